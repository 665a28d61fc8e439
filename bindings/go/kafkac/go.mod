module kafkac.dev/kafkac

go 1.21
