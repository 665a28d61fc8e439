"""The package's constants against include/kafkac.h and the loaded library: a header
change that is not carried over to kafkac/_constants.py fails here."""
import os
import sys

import kafkac
from kafkac import _constants

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import gen_constants  # noqa: E402


def header_path():
    return os.environ.get("KAFKAC_HEADER") or os.path.join(HERE, "..", "..", "..", "include", "kafkac.h")


def header_text():
    with open(header_path(), encoding="utf-8") as f:
        return f.read()


def test_header_macros_match_the_module():
    parsed = {name: value for name, value, _ in gen_constants.parse(header_text())}
    # Enough of the header was read (not an empty or truncated file).
    assert len(parsed) > 150
    module = {k: v for k, v in vars(_constants).items() if k.startswith("KC_")}
    assert module == parsed


def test_generated_file_is_current():
    want = gen_constants.render(gen_constants.parse(header_text()))
    with open(_constants.__file__, encoding="utf-8") as f:
        got = f.read()
    assert got == want, "kafkac/_constants.py is stale: run tools/gen_constants.py"


def test_well_known_values():
    # Spot checks against the numbers fixed by the C API and by Kafka's protocol.
    assert kafkac.PARTITION_UA == -1
    assert kafkac.OFFSET_BEGINNING == -2
    assert kafkac.OFFSET_END == -1
    assert kafkac.OFFSET_STORED == -1000
    assert kafkac.OFFSET_INVALID == -1001
    assert kafkac.KafkaError.OFFSET_OUT_OF_RANGE == 1
    assert kafkac.KafkaError.NOT_COORDINATOR == 16
    assert kafkac.KafkaError._TIMED_OUT == -185
    assert kafkac.KafkaError._QUEUE_FULL == -184


def test_library_names_every_error_code():
    # The library loaded at run time knows every code of the header, by the same name.
    for name, value in vars(_constants).items():
        if name.startswith("KC_ERR_"):
            assert kafkac.KafkaError(value).name() == name[len("KC_ERR_"):], name
    assert kafkac.KafkaError(0).name() == "NO_ERROR"
    # A code the header does not name gets the library's generic answer.
    assert kafkac.KafkaError(-99999).name() == "_UNKNOWN"
    assert kafkac.KafkaError(-99999).str() == "Unknown error code"


def test_parser_refuses_a_macro_it_does_not_understand():
    import pytest

    with pytest.raises(ValueError):
        gen_constants.parse("#define KC_SOMETHING (1 << 3)\n")


def test_library_version_matches_header():
    s, num = kafkac.version()
    assert num >> 16 == _constants.KC_VERSION_MAJOR
    assert (num >> 8) & 0xFF >= _constants.KC_VERSION_MINOR
    assert s.startswith(f"{_constants.KC_VERSION_MAJOR}.")
