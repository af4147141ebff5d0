"""fwup's command-line flags for ``cli``: ``parse_args(argv)`` -> dict of long names
(repeatable keys hold lists); loaded only while the arguments are parsed. No buffers.
"""

# "flag name" pairs (a "=" after the name: takes a value), one string: no dict kept in RAM
_FLAGS = (
    "-a apply --apply apply -d device= --device device= -i input= --input input= -t task= "
    "--task task= -p public_key_file= --public-key-file public_key_file= "
    "--public-key public_key= -F framing --framing framing -q quiet --quiet quiet "
    "-n numeric --numeric-progress numeric -V verify --verify verify -m metadata "
    "--metadata metadata --metadata-key metadata_key= -l list --list list -v verbose "
    "--verbose verbose -U unsafe --unsafe unsafe --progress-low progress_low= "
    "--progress-high progress_high= -c create --create create -f config= --conf config= "
    "-o output= --output output= -s private_key_file= --private-key-file private_key_file= "
    "--private-key private_key= --sha256 sha256 -S sign --sign sign -g gen_keys "
    "--gen-keys gen_keys --version version"
)
_REPEAT = ("public_key_file", "public_key")


class UsageError(Exception):
    pass


def _flag(a):
    """(long name, takes a value) of flag ``a`` or None."""
    i = _FLAGS.find(a + " ") if a.startswith("-") else -1
    while i > 0 and _FLAGS[i - 1] != " ":
        i = _FLAGS.find(a + " ", i + 1)
    if i < 0:
        return None
    i += len(a) + 1
    j = _FLAGS.find(" ", i)
    name = _FLAGS[i:j if j >= 0 else len(_FLAGS)]
    if name.endswith("="):
        return name[:-1], True
    return name, False


def parse_args(argv):
    """Hand-parse fwup flags into a dict of long names (repeatable keys hold lists)."""
    opts = {"public_key_file": [], "public_key": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if len(a) == 2 and a[0] == "-" and "1" <= a[1] <= "9":
            opts["compression_level"] = int(a[1])
            continue
        val = None
        if a.startswith("--") and "=" in a:
            a, val = a.split("=", 1)
        spec = _flag(a)
        if spec is None:
            if not a.startswith("-") and "input" not in opts:
                opts["input"] = a
                continue
            raise UsageError("unknown option '%s'" % a)
        name, takes = spec
        if takes:
            if val is None:
                if i >= len(argv):
                    raise UsageError("option '%s' needs a value" % a)
                val = argv[i]
                i += 1
            if name in _REPEAT:
                opts[name].append(val)
            else:
                opts[name] = val
        else:
            opts[name] = True
    return opts
