"""The Python declarations agree with include/fluximage.h, and the versions with each other."""

from __future__ import annotations

import ctypes
import re
from typing import Any, Dict, List, Tuple

import pytest

import fluximage
from fluximage import _lib
from conftest import REPO

HEADER = REPO / "include" / "fluximage.h"


def header_text() -> str:
    if not HEADER.is_file():
        pytest.fail(f"the header is not at {HEADER}")
    return HEADER.read_text()


def header_functions() -> Dict[str, Tuple[str, List[str]]]:
    """name -> (return type, [parameter types]) for every function the header declares."""
    text = re.sub(r"/\*.*?\*/", " ", header_text(), flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    text = re.sub(r"\s+", " ", text)
    out: Dict[str, Tuple[str, List[str]]] = {}
    for m in re.finditer(r"([A-Za-z_][\w \*]*?[\s\*])(flx_\w+)\s*\(([^()]*)\)\s*;", text):
        ret, name, params = m.group(1), m.group(2), m.group(3).strip()
        if ret.strip().startswith("typedef"):
            continue
        types = [] if params in ("", "void") else [strip_name(p) for p in params.split(",")]
        out[name] = (ret.strip(), types)
    return out


def strip_name(param: str) -> str:
    """'const struct flx_batch *batch' -> 'const struct flx_batch *'."""
    param = param.strip()
    m = re.match(r"^(.*?[\s\*])(\w+)$", param)
    return (m.group(1) if m else param).strip()


INTS = {
    "int": (4, True),
    "int32_t": (4, True),
    "int64_t": (8, True),
    "uint32_t": (4, False),
    "uint64_t": (8, False),
    "uint8_t": (1, False),
    "uintptr_t": (ctypes.sizeof(ctypes.c_void_p), False),
    "size_t": (ctypes.sizeof(ctypes.c_size_t), False),
}


def c_kind(ctype: str) -> str:
    """A canonical description of a C type from the header."""
    t = re.sub(r"\bconst\b", "", ctype)
    t = re.sub(r"\s+", " ", t).strip()
    t = re.sub(r"\s*\*", "*", t)
    t = re.sub(r"^enum flx_status$", "int", t)
    t = re.sub(r"^(enum|struct) ", "", t)
    stars = t.count("*")
    base = t.replace("*", "").strip()
    if base == "char" and stars >= 1:
        kind, stars = "string", stars - 1
    elif base == "void" and stars >= 1:
        kind, stars = "void*", stars - 1
    elif base == "void":
        kind = "void"
    elif base == "bool":
        kind = "bool"
    elif base == "flx_progress_fn":
        kind = "progress_fn"
    elif base == "flx_sync_fn":
        kind = "sync_fn"
    elif base == "flx_tick_fn":
        kind = "tick_fn"
    elif base in INTS:
        size, signed = INTS[base]
        kind = f"{'i' if signed else 'u'}{size * 8}"
    else:
        kind = f"struct {base}"
    for _ in range(stars):
        kind = f"ptr({kind})"
    return kind


def py_kind(t: Any) -> str:
    """The same description for a ctypes type."""
    if t is None:
        return "void"
    if t is ctypes.c_char_p:
        return "string"
    if t is ctypes.c_void_p:
        return "void*"
    if t is ctypes.c_bool:
        return "bool"
    if t is _lib.PROGRESS_FN:
        return "progress_fn"
    if t is _lib.SYNC_FN:
        return "sync_fn"
    if t is _lib.TICK_FN:
        return "tick_fn"
    if isinstance(t, type) and issubclass(t, ctypes._Pointer):
        return f"ptr({py_kind(t._type_)})"
    if isinstance(t, type) and issubclass(t, ctypes.Structure):
        return f"struct {t.__name__}"
    if isinstance(t, type) and issubclass(t, ctypes._SimpleCData):
        signed = t(-1).value < 0
        return f"{'i' if signed else 'u'}{ctypes.sizeof(t) * 8}"
    raise AssertionError(f"unexpected ctypes type {t!r}")


def test_header_parses() -> None:
    funcs = header_functions()
    # Sanity: the parser sees the functions the design names.
    for name in ("flx_client_new", "flx_compress", "flx_last_error", "flx_compress_inputs"):
        assert name in funcs
    assert len(funcs) >= 40


def test_every_header_function_is_declared_with_its_arity() -> None:
    funcs = header_functions()
    missing = sorted(set(funcs) - set(_lib.FUNCTIONS))
    assert not missing, f"declared in the header but not in fluximage/_lib.py: {missing}"
    extra = sorted(set(_lib.FUNCTIONS) - set(funcs))
    assert not extra, f"declared in fluximage/_lib.py but not in the header: {extra}"
    wrong = {
        name: (len(params), len(_lib.FUNCTIONS[name][1]))
        for name, (_, params) in funcs.items()
        if len(params) != len(_lib.FUNCTIONS[name][1])
    }
    assert not wrong, f"arity (header, python) differs: {wrong}"


def test_every_declaration_has_the_header_types() -> None:
    problems = []
    for name, (ret, params) in header_functions().items():
        restype, argtypes = _lib.FUNCTIONS[name]
        if c_kind(ret) != py_kind(restype):
            problems.append(f"{name} returns {ret!r} ({c_kind(ret)}), declared {py_kind(restype)}")
        for i, (c, p) in enumerate(zip(params, argtypes)):
            if c_kind(c) != py_kind(p):
                problems.append(f"{name} argument {i}: {c!r} ({c_kind(c)}), declared {py_kind(p)}")
    assert not problems, "\n".join(problems)


def test_declarations_are_applied() -> None:
    for name, (restype, argtypes) in _lib.FUNCTIONS.items():
        fn = getattr(_lib.lib, name)
        assert fn.restype is restype, name
        assert list(fn.argtypes) == list(argtypes), name


def test_struct_flx_input_matches_the_header() -> None:
    m = re.search(r"typedef struct flx_input \{(.*?)\} flx_input;", header_text(), flags=re.S)
    assert m, "struct flx_input not found in the header"
    body = re.sub(r"/\*.*?\*/", " ", m.group(1), flags=re.S)
    fields = [strip_name(f) for f in body.split(";") if f.strip()]
    names = [re.findall(r"(\w+)\s*;", f + ";")[0] for f in body.split(";") if f.strip()]
    declared = _lib.flx_input._fields_
    assert [n for n, _ in declared] == names
    assert [py_kind(t) for _, t in declared] == [c_kind(f) for f in fields]


def test_enum_values_match_the_header() -> None:
    text = header_text()

    def value(name: str) -> int:
        m = re.search(rf"\b{name} = (\d+)", text)
        assert m, name
        return int(m.group(1))

    statuses = {
        n: v
        for n, v in vars(_lib).items()
        if re.fullmatch(r"FLX_[A-Z_]+", n) and isinstance(v, int)
    }
    assert len(statuses) == 19
    for n, v in statuses.items():
        assert value(n) == v, n
    for fmt, v in _lib.FORMATS.items():
        assert value(f"FLX_FORMAT_{fmt.upper()}") == v
    for policy, v in _lib.EXISTS.items():
        assert value(f"FLX_EXISTS_{policy.upper()}") == v
    for pos, v in _lib.POSITIONS.items():
        assert value(f"FLX_POS_{pos}") == v
    for n, v in vars(_lib).items():
        if n.startswith("FIELD_"):
            assert value(f"FLX_{n}") == v, n
        if n.startswith("USAGE_"):
            assert value(f"FLX_{n}") == v, n


def test_versions_agree() -> None:
    cargo = (REPO / "Cargo.toml").read_text()
    m = re.search(r'^version = "([^"]+)"', cargo, flags=re.M)
    assert m
    assert fluximage.__version__ == m.group(1), (
        "bindings/python/src/fluximage/_version.py and Cargo.toml differ"
    )
    header = re.search(r'#define FLX_VERSION_STRING "([^"]+)"', header_text())
    assert header
    assert fluximage.library_version == header.group(1)
    major, minor = (int(x) for x in fluximage.library_version.split(".")[:2])
    assert (major, minor) == _lib.COMPATIBLE
