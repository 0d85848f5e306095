# Leaked Python cycles for tests/test_report_html.c, the collector disabled:
# thirty alike two-object cycles (a.other = b; b.other = a, a __slots__
# class) that the HTML page lists as one row, and one ring of three dicts
# whose edges are named by their keys.
import gc

gc.disable()


class Pair:
    __slots__ = ["other"]


for _ in range(30):
    a = Pair()
    b = Pair()
    a.other = b
    b.other = a
del a, b
x = {}
y = {}
z = {}
x["to_y"] = y
y["to_z"] = z
z["to_x"] = x
del x, y, z
print("made 31 cycles")
