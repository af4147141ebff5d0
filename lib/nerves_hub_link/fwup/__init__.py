"""Pure-Python fwup: apply/verify/metadata/list of ``.fw`` archives (and creation via ``create``).

Modules: ``confuse`` (libconfuse parser), ``metaconf`` (meta.conf model), ``zipstream``
(streaming ZIP reader), ``uboot_env``, ``mbr``, ``blockdev``, ``applier`` (the push-style
engine), ``framing``, ``events`` (progress), ``keys``, ``cli`` (``python -m nerves_hub_link.fwup``).
"""

FWUP_VERSION = "1.16.0"
