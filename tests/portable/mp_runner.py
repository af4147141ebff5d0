# Runs portable test modules under MicroPython: every function named test_* in
# each module given on the command line. Prints one line per failure and a
# closing "N passed, N failed" line; exits 1 on any failure.
import sys


def run_module(name):
    passed = failed = 0
    mod = __import__(name)
    names = sorted(n for n in dir(mod) if n.startswith("test_"))
    for n in names:
        fn = getattr(mod, n)
        if not callable(fn):
            continue
        try:
            fn()
            passed += 1
        except Exception as e:  # report and go on with the next test
            failed += 1
            print("FAIL %s.%s: %s: %s" % (name, n, type(e).__name__, e))
            sys.print_exception(e)
    return passed, failed


def main(argv):
    passed = failed = 0
    for name in argv:
        if name.endswith(".py"):
            name = name[:-3]
        name = name.split("/")[-1]
        try:
            p, f = run_module(name)
        except Exception as e:
            print("FAIL %s (import): %s: %s" % (name, type(e).__name__, e))
            sys.print_exception(e)
            p, f = 0, 1
        passed += p
        failed += f
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


sys.exit(main(sys.argv[1:]))
