"""The domain labels: what a detection is, whatever model found it.

A detector model maps its own class names to these (`models.<name>.labels`); rules ask for them (`rules.<rule>.labels`,
`needed_labels()`), and evidence snapshots colour boxes by them (analytics/evidence.py). One declared set, so that a
label nobody knows (a typo such as `persn`) is a config error naming its field, never a detection that no rule reads
or a snapshot drawn without its colour.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator

DomainLabel = Literal["person", "fall", "fire", "smoke", "car", "truck", "bus", "motorcycle"]
DOMAIN_LABELS: tuple[DomainLabel, ...] = get_args(DomainLabel)
VEHICLE_LABELS: tuple[DomainLabel, ...] = ("car", "truck", "bus", "motorcycle")


def verify_label(label: str) -> str:
    """`label` if it is a domain label; a ValueError listing the known ones otherwise."""
    if label not in DOMAIN_LABELS:
        raise ValueError(f"unknown label {label!r}; the domain labels are {', '.join(DOMAIN_LABELS)}")
    return label


# A config field holding a domain label: checked with a message that lists the known labels (a Literal would too,
# but as pydantic's long "Input should be ..." line).
Label = Annotated[str, AfterValidator(verify_label)]
