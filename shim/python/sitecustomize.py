# refscope's startup module for CPython targets (docs/PYTHON.md).
#
# librefscope.so puts this directory first on PYTHONPATH when the traced
# program runs CPython. At startup this module
#   - runs the sitecustomize this one hides (Debian has one), as site.py would;
#   - takes refscope's changes back out of os.environ and sys.path, so the
#     program sees its usual environment (exec'd children get them again from
#     their own librefscope.so);
#   - registers an atexit callback. Python's atexit callbacks run at the start
#     of Py_FinalizeEx, after the program's own code (and its own atexit
#     callbacks, registered later, which run first) and before module teardown
#     and the final collection: the moment to see what the collector tracks.
# The callback walks gc.get_objects() per generation with the public API and
# hands every object (address, type, reference count, generation, the
# references its type's traversal reports) to librefscope.so through ctypes,
# which writes PY_* records into the trace. Nothing here may change what the
# program prints or its exit status: every step is guarded, and silent.
#
# Python 2 parses this file too (PYTHONPATH is inherited): keep the syntax
# of both. Snapshots need Python >= 3.8 (gc.get_objects(generation=)).
import os
import sys

_dir = os.path.dirname(os.path.abspath(__file__))
_lib = None
_calls = None


def _chain():
    """Runs the sitecustomize module this one hides, as site.py would."""
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != _dir]
    # the import system's own modules, always loaded: importing importlib.util
    # would load a dozen modules and leave cyclic garbage the program never had
    boot = sys.modules.get("_frozen_importlib")
    ext = sys.modules.get("_frozen_importlib_external")
    if boot is None or ext is None:
        try:
            import imp  # Python 2
            f, pathname, desc = imp.find_module("sitecustomize", path)
        except ImportError:
            return
        try:
            imp.load_module("sitecustomize", f, pathname, desc)
        finally:
            if f:
                f.close()
        return
    spec = ext.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None:
        return
    mod = boot.module_from_spec(spec)
    sys.modules["sitecustomize"] = mod
    spec.loader.exec_module(mod)


def _restore():
    """Takes refscope's environment changes back out."""
    pp = os.environ.get("PYTHONPATH")
    if pp is not None:
        parts = pp.split(os.pathsep)
        if parts[0] == _dir:
            rest = os.pathsep.join(parts[1:])
            if rest:
                os.environ["PYTHONPATH"] = rest
            else:
                del os.environ["PYTHONPATH"]
    if os.environ.pop("REFSCOPE_PY_MALLOC", None) == "1":
        os.environ.pop("PYTHONMALLOC", None)
    while _dir in sys.path:
        sys.path.remove(_dir)


def _shim():
    """librefscope.so's refscope__py_* functions, or None."""
    global _lib
    if _lib is None:
        try:
            import ctypes
            lib = ctypes.PyDLL(None)  # PyDLL: the GIL stays held
            lib.refscope__py_begin.argtypes = [ctypes.c_uint, ctypes.c_char_p]
            lib.refscope__py_begin.restype = ctypes.c_long
            lib.refscope__py_strings.argtypes = [ctypes.c_long, ctypes.c_uint64, ctypes.c_char_p,
                                                 ctypes.c_size_t, ctypes.c_size_t]
            lib.refscope__py_objects.argtypes = [ctypes.c_long, ctypes.c_char_p, ctypes.c_size_t]
            lib.refscope__py_end.argtypes = [ctypes.c_long, ctypes.c_uint64, ctypes.c_char_p,
                                             ctypes.c_size_t]
            lib.refscope__py_register.argtypes = [ctypes.py_object]
            lib.refscope__py_pending_trigger.restype = ctypes.c_uint
            lib.refscope__py_pause.argtypes = [ctypes.c_int]
            _lib = lib
        except Exception:
            _lib = False
    return _lib or None


def _refcount_offset(getrc):
    """References the gathering loop itself holds on each object (the list
    it comes from, the loop variable, the argument): measured on an object
    held by one list only, with the same loop."""
    objs = [object()]
    for o in objs:
        return getrc(o)


def _type_name(t):
    mod = getattr(t, "__module__", None)
    qn = getattr(t, "__qualname__", None) or getattr(t, "__name__", "?")
    if not isinstance(mod, str) or mod == "builtins":
        return qn
    return mod + "." + qn


def _slot_members(t, cache):
    """(name, descriptor) of every __slots__ member of type t, cached."""
    got = cache.get(id(t))
    if got is None:
        got = []
        member = type(type.__dict__["__dict__"])  # getset; members below
        for cls in getattr(t, "__mro__", ()):
            if "__slots__" not in getattr(cls, "__dict__", {}):
                continue
            for name, d in list(cls.__dict__.items()):
                if type(d).__name__ == "member_descriptor" and type(d) is not member:
                    got.append((name, d))
        cache[id(t)] = got
    return got


def _write(lib, sid, gens, skip, off, tm):
    """Every object of gens (lists of the three generations) into the
    snapshot sid. Runs with the shim paused (unless tracemalloc is on): every
    object made here is dropped before it returns, and nothing here may
    touch a long-lived structure that would grow (struct.pack's format cache
    would: Struct objects are made instead)."""
    import gc
    from struct import Struct
    getrc = sys.getrefcount
    referents = gc.get_referents
    tracked = gc.is_tracked
    strings = {}
    pending = []
    slots = {}
    tnames = {}
    out = []  # packed by struct (loaded with ctypes): the array module would
    put = out.append  # import collections, leaving garbage behind
    nobj = 0
    counts = [0, 0, 0]

    def sid_of(s):
        i = strings.get(s)
        if i is None:
            i = len(strings) + 1
            strings[s] = i
            pending.append(s)
        return i

    def flush():
        if pending:
            blob = b"\0".join(s.encode("utf-8", "replace") for s in pending) + b"\0"
            lib.refscope__py_strings(sid, len(strings) - len(pending) + 1, blob, len(blob),
                                     len(pending))
            del pending[:]
        if out:
            lib.refscope__py_objects(sid, Struct("=%dQ" % len(out)).pack(*out), len(out))
            del out[:]

    try:
        for g in (0, 1, 2):
            for o in gens[g]:
                rc = getrc(o)  # first, before any other reference of ours exists
                if id(o) in skip:
                    continue
                t = type(o)
                ti = tnames.get(id(t))
                if ti is None:
                    ti = tnames[id(t)] = sid_of(_type_name(t))
                site = 0
                if tm is not None:
                    tb = tm(o)
                    if tb:
                        site = sid_of("%s:%d" % (tb[0][0], tb[0][1]))
                    tb = None
                names = None
                if isinstance(o, dict):
                    names = {}
                    for k, v in o.items():
                        if isinstance(k, str) and tracked(v):
                            names[id(v)] = k
                    k = v = None
                else:
                    members = _slot_members(t, slots)
                    if members:
                        names = {}
                        for name, d in members:
                            try:
                                v = d.__get__(o, t)
                            except AttributeError:
                                continue
                            if tracked(v):
                                names[id(v)] = name
                        v = d = None
                refs = [id(r) for r in referents(o) if tracked(r)]
                t = None
                put(id(o))
                put(ti)
                put(rc - off if rc > off else 0)
                put(g)
                put(site)
                put(len(refs))
                for r in refs:
                    put(r)
                    put(sid_of(names[r]) if names and r in names else 0)
                names = refs = None
                nobj += 1
                counts[g] += 1
                if len(out) > 32768:
                    flush()
            o = None
        flush()
        lib.refscope__py_end(sid, nobj, Struct("=3Q").pack(*counts), 3)
    except Exception:
        pass  # no PY_SNAPSHOT_END: the snapshot reads as incomplete


def _gather(trigger):
    """One Python-aware snapshot, written through librefscope.so."""
    import gc
    was_enabled = gc.isenabled()
    gc.disable()  # a collection in the middle would move and free objects
    try:
        gen0 = gc.get_objects(generation=0)
        gen1 = gc.get_objects(generation=1)
        gen2 = gc.get_objects(generation=2)
        gens = (gen0, gen1, gen2)
        # after the lists: importing ctypes (the first time) leaves garbage
        # of its own, which must not look like the program's
        lib = _shim()
        if lib is None:
            return
        off = _refcount_offset(sys.getrefcount)
        skip = set((id(gen0), id(gen1), id(gen2)))
        tm = None
        if "_tracemalloc" in sys.modules and sys.modules["_tracemalloc"].is_tracing():
            # raw frames, most recent first: (filename, lineno)
            tm = sys.modules["_tracemalloc"]._get_object_traceback
        runtime = "%s %s" % (sys.implementation.name, sys.version.split()[0])
        sid = lib.refscope__py_begin(trigger, runtime.encode())
        if sid < 0:
            return
        # tracemalloc's own table grows with what we allocate: no pause then
        paused = tm is None and lib.refscope__py_pause(1) == 0
        try:
            _write(lib, sid, gens, skip, off, tm)
        finally:
            if paused:
                lib.refscope__py_pause(0)
    finally:
        if was_enabled:
            gc.enable()


def _at_exit():
    try:
        _gather(1)  # RS_SNAP_EXIT: before the interpreter finalizes
    except Exception:
        pass
    lib = _shim()
    if lib is not None:
        try:
            lib.refscope__py_register(None)  # no pending call after this
        except Exception:
            pass


def _on_request():
    """Run by librefscope.so as a pending call (snapshot signal, interval,
    refscope_snapshot())."""
    try:
        lib = _shim()
        if lib is not None:
            _gather(lib.refscope__py_pending_trigger() or 2)
    except Exception:
        pass


def _setup():
    _restore()
    try:
        _chain()
    finally:
        if sys.version_info >= (3, 8):
            import atexit
            atexit.register(_at_exit)
            if os.environ.get("REFSCOPE_SNAPSHOT_SIGNAL") or \
                    os.environ.get("REFSCOPE_SNAPSHOT_INTERVAL"):
                lib = _shim()
                if lib is not None:
                    lib.refscope__py_register(_on_request)
                # importing ctypes leaves a few cyclic objects: free them
                # now, before the program runs, so a program that disables
                # the collector does not show them as its own
                import gc
                gc.collect()
            if os.environ.get("REFSCOPE_PY_TRACEMALLOC"):
                # the C module: tracemalloc.py would leave garbage behind
                import _tracemalloc
                if not _tracemalloc.is_tracing():
                    _tracemalloc.start(1)


_setup()
