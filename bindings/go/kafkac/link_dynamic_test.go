//go:build kafkac_dynamic

package kafkac

// The tests were built with -tags kafkac_dynamic: the program TestReadmeProgramRuns
// builds is linked the same way.
func init() { buildTags = []string{"-tags", "kafkac_dynamic"} }
