"""Loading pickles that cannot run code and cannot crash the interpreter.

:func:`safe_loads` unpickles bytes in two steps:

1. :func:`check_structure` walks the opcodes (:func:`pickletools.genops`) without
   building anything and refuses a pickle whose objects nest deeper than
   ``max_depth`` or contain themselves (hashing a tuple nested 200,000 deep crashes the
   interpreter; printing or converting deep lists raises ``RecursionError``);
2. a restricted :class:`pickle.Unpickler` resolves only the globals it is allowed
   (exact ``(module, name)`` pairs, so no attribute paths such as
   ``numpy.ndarray.tofile``) and no persistent ids.

The CIFAR-10 batches (:mod:`ann.data.cifar`) are read with it, allowing only numpy
array reconstruction (:data:`NUMPY_GLOBALS`).
"""

from __future__ import annotations

import io
import pickle
import pickletools
from collections.abc import Collection
from typing import Any

import numpy as np

__all__ = ["NUMPY_GLOBALS", "MAX_PICKLE_DEPTH", "PickleRefused", "check_structure",
           "safe_loads", "reason"]

#: Globals a pickle of numpy arrays may name: array reconstruction and, for protocol-2
#: pickles written by Python 3, the bytes constructor.
NUMPY_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
})


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in ``allowed`` (exact names, so no
    attribute paths such as ``numpy.ndarray.tofile`` either) and no persistent ids."""

    def __init__(self, file: io.BytesIO, allowed: Collection[tuple[str, str]], **kw: Any):
        super().__init__(file, **kw)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core."):]  # numpy >= 2 name
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing to load a persistent id")


#: Deepest nesting of objects accepted in a pickle (an official batch has about 6).
#: Deeper structures are refused before anything is built: hashing a tuple nested
#: 200,000 deep crashes the interpreter, and printing or converting deep lists raises
#: ``RecursionError``.
MAX_PICKLE_DEPTH = 100

# How each pickle opcode moves the unpickler's stack, for the structure check.
_LEAF_OPS = frozenset({
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
    "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8", "UNICODE",
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT", "NONE", "NEWTRUE",
    "NEWFALSE", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE", "EMPTY_SET", "GLOBAL", "PERSID",
    "EXT1", "EXT2", "EXT4", "NEXT_BUFFER",
})
_BUILD_FROM_MARK = frozenset({"LIST", "TUPLE", "DICT", "FROZENSET", "INST", "OBJ"})
_BUILD_FROM_N = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3, "REDUCE": 2, "NEWOBJ": 2,
                 "NEWOBJ_EX": 3, "STACK_GLOBAL": 2, "BINPERSID": 1, "READONLY_BUFFER": 1}
_ADD_N = {"APPEND": 1, "SETITEM": 2, "BUILD": 1}  # into the object below them
_ADD_FROM_MARK = frozenset({"APPENDS", "SETITEMS", "ADDITEMS"})
_NO_STACK = frozenset({"PROTO", "FRAME"})
_PUT = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET = frozenset({"GET", "BINGET", "LONG_BINGET"})


class PickleRefused(ValueError):
    """A well-formed pickle refused for its shape (too deep, or an object in itself)."""


def check_structure(raw: bytes, max_depth: int = MAX_PICKLE_DEPTH) -> None:
    """Refuse a pickle whose objects would nest deeper than ``max_depth`` or contain
    themselves, without building any object.

    The opcodes are walked (:func:`pickletools.genops`) and the unpickler's stack and
    memo simulated with one node per object and an edge from each object to everything
    put into it (an upper bound on the real nesting).

    Raises:
        PickleRefused: too deep, or a cycle.
        ValueError: not a well-formed pickle (other exceptions of ``genops`` too).
    """
    children: list[list[int]] = []
    stack: list[int] = []
    marks: list[int] = []  # len(stack) at each MARK
    memo: dict[int, int] = {}

    def new(items: list[int]) -> int:
        children.append(items)
        return len(children) - 1

    def pop(n: int) -> list[int]:
        if len(stack) - (marks[-1] if marks else 0) < n:
            raise ValueError("stack underflow")
        items = stack[len(stack) - n:]
        del stack[len(stack) - n:]
        return items

    def pop_mark() -> list[int]:
        if not marks:
            raise ValueError("MARK missing")
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    def top() -> int:
        if len(stack) <= (marks[-1] if marks else 0):
            raise ValueError("stack underflow")
        return stack[-1]

    stopped = False
    for op, arg, _pos in pickletools.genops(raw):
        name = op.name
        if name in _LEAF_OPS:
            stack.append(new([]))
        elif name in _BUILD_FROM_N:
            stack.append(new(pop(_BUILD_FROM_N[name])))
        elif name in _BUILD_FROM_MARK:
            stack.append(new(pop_mark()))
        elif name in _ADD_N:
            items = pop(_ADD_N[name])
            children[top()].extend(items)
        elif name in _ADD_FROM_MARK:
            items = pop_mark()
            children[top()].extend(items)
        elif name == "MARK":
            marks.append(len(stack))
        elif name == "POP":
            if len(stack) > (marks[-1] if marks else 0):
                stack.pop()
            else:
                pop_mark()
        elif name == "POP_MARK":
            pop_mark()
        elif name == "DUP":
            stack.append(top())
        elif name in _PUT:
            memo[arg] = top()
        elif name == "MEMOIZE":
            memo[len(memo)] = top()
        elif name in _GET:
            if arg not in memo:
                raise ValueError(f"memo key {arg} missing")
            stack.append(memo[arg])
        elif name == "STOP":
            top()
            stopped = True
        elif name not in _NO_STACK:
            raise ValueError(f"unsupported opcode {name}")
    if not stopped:
        raise ValueError("no STOP opcode")

    # Longest chain of containment over all objects (not only the result: a dict built
    # and dropped still hashes its keys), by an iterative depth-first search.
    depth = [0] * len(children)
    state = bytearray(len(children))  # 0 unseen, 1 on the current path, 2 done
    for start in range(len(children)):
        if state[start]:
            continue
        state[start] = 1
        path = [(start, iter(children[start]))]
        while path:
            node, pending = path[-1]
            for child in pending:
                if state[child] == 1:
                    raise PickleRefused("an object that contains itself")
                if state[child] == 0:
                    if len(path) >= max_depth:
                        raise PickleRefused(f"objects nested more than {max_depth} deep")
                    state[child] = 1
                    path.append((child, iter(children[child])))
                    break
            else:
                path.pop()
                state[node] = 2
                depth[node] = 1 + max((depth[c] for c in children[node]), default=0)
                if depth[node] + len(path) > max_depth:
                    raise PickleRefused(f"objects nested more than {max_depth} deep")


def reason(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` on one short line (never raising itself)."""
    try:
        text = str(exc)
    except Exception:  # a hostile object's __str__
        text = ""
    text = " ".join(text.split())
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def safe_loads(raw: bytes, allowed: Collection[tuple[str, str]] = NUMPY_GLOBALS, *,
               max_depth: int = MAX_PICKLE_DEPTH, encoding: str = "bytes") -> Any:
    """Unpickle ``raw`` (Python 2 or 3 pickle), building only ``allowed`` globals.

    Raises:
        PickleRefused: objects nested deeper than ``max_depth`` or containing themselves.
        pickle.UnpicklingError: a global outside ``allowed``, or a persistent id.
        Exception: whatever a malformed pickle raises (``ValueError``, ``EOFError``,
            ``MemoryError`` ...): callers turn it into their one-line error with
            :func:`reason`.
    """
    check_structure(raw, max_depth)
    return _RestrictedUnpickler(io.BytesIO(raw), allowed, encoding=encoding).load()
