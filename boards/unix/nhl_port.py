# The MicroPython unix port's hook: nothing to accelerate beyond what lib/ detects itself.


def install():
    pass
