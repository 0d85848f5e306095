"""gobject_pycycle.py - a reference cycle between Python objects and a GObject
that neither Python's collector nor GObject breaks, built through PyGObject
(gi's _gi.so, which Python dlopens RTLD_LOCAL and which links libgobject).

  N (a GObject subclass instance) -> its wrapper's dict -> h (Holder)
  h -> GObject.Value holding N (g_value_set_object: a GObject reference)
  N -> the closure of its 'poke' handler -> the lambda -> h
The Value's reference is a C reference the collector cannot see, and while
N has more than its wrapper's (toggle) reference, PyGObject keeps the
wrapper alive: gc.collect() finds nothing to free.
D, another Node, goes through a Value, a handler and a signal emission
and is freed: its retains and releases balance.

Usage: gobject_pycycle.py OUT. stdout and stderr carry no address (they
must be the same with and without refscope); OUT gets "NAME ADDR" lines
(the GObject addresses) and "NAME refcount R" lines (ref_count as
__grefcount__ reads it).
"""
import gc
import re
import sys

from gi.repository import GObject


class Node(GObject.Object):
    __gsignals__ = {'poke': (GObject.SignalFlags.RUN_LAST, None, ())}


class Holder:
    pass


def gobject_addr(obj):
    # repr: <__main__.Node object at 0xWRAPPER (__main__+Node at 0xGOBJECT)>
    return re.search(r' at (0x[0-9a-f]+)\)>$', repr(obj)).group(1)


def main(out_path):
    gc.disable()
    notes = []

    d = Node()
    notes.append('D %s' % gobject_addr(d))
    dv = GObject.Value(GObject.Object, d)
    dv.unset()
    handler = d.connect('poke', lambda node: None)
    d.emit('poke')
    d.disconnect(handler)
    notes.append('D refcount %d' % d.__grefcount__)
    del d, dv
    gc.collect()

    n = Node()
    notes.append('N %s' % gobject_addr(n))
    h = Holder()
    h.hits = []
    h.value = GObject.Value(GObject.Object, n)
    n.holder = h
    n.connect('poke', lambda node: h.hits.append(node))
    n.emit('poke')
    h.hits.clear()
    notes.append('N refcount %d' % n.__grefcount__)
    del n, h
    found = gc.collect()
    with open(out_path, 'w') as f:
        f.write('\n'.join(notes) + '\n')
    print('gobject_pycycle: cycle built, collector found %d' % found)
    sys.stderr.write('gobject_pycycle: done\n')


if __name__ == '__main__':
    main(sys.argv[1])
