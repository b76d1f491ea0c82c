"""OASIS CAP 1.2 structure, transcribed from the standard's schema (CAP-v1.2.xsd, OASIS Standard 2010): each
element's children in schema order with their occurrence bounds, the enumerations, and the value patterns.

No installed package ships the XSD and the tests have no network, so `validate` checks a document against this
table: required elements present, order as in the schema's sequences, no unknown or repeated-once elements,
enumerated values, dateTime and polygon/circle forms, and the rules the schema's prose adds (references for
Update/Cancel, restriction for Restricted scope, at least four points in a closed polygon).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
UNBOUNDED = None

# parent -> [(child, minOccurs, maxOccurs)] in sequence order
SEQUENCES: dict[str, list[tuple[str, int, int | None]]] = {
    "alert": [
        ("identifier", 1, 1), ("sender", 1, 1), ("sent", 1, 1), ("status", 1, 1), ("msgType", 1, 1),
        ("source", 0, 1), ("scope", 1, 1), ("restriction", 0, 1), ("addresses", 0, 1), ("code", 0, UNBOUNDED),
        ("note", 0, 1), ("references", 0, 1), ("incidents", 0, 1), ("info", 0, UNBOUNDED),
    ],
    "info": [
        ("language", 0, 1), ("category", 1, UNBOUNDED), ("event", 1, 1), ("responseType", 0, UNBOUNDED),
        ("urgency", 1, 1), ("severity", 1, 1), ("certainty", 1, 1), ("audience", 0, 1),
        ("eventCode", 0, UNBOUNDED), ("effective", 0, 1), ("onset", 0, 1), ("expires", 0, 1),
        ("senderName", 0, 1), ("headline", 0, 1), ("description", 0, 1), ("instruction", 0, 1), ("web", 0, 1),
        ("contact", 0, 1), ("parameter", 0, UNBOUNDED), ("resource", 0, UNBOUNDED), ("area", 0, UNBOUNDED),
    ],
    "resource": [
        ("resourceDesc", 1, 1), ("mimeType", 1, 1), ("size", 0, 1), ("uri", 0, 1), ("derefUri", 0, 1),
        ("digest", 0, 1),
    ],
    "area": [
        ("areaDesc", 1, 1), ("polygon", 0, UNBOUNDED), ("circle", 0, UNBOUNDED), ("geocode", 0, UNBOUNDED),
        ("altitude", 0, 1), ("ceiling", 0, 1),
    ],
    "eventCode": [("valueName", 1, 1), ("value", 1, 1)],
    "parameter": [("valueName", 1, 1), ("value", 1, 1)],
    "geocode": [("valueName", 1, 1), ("value", 1, 1)],
}  # fmt: skip

ENUMERATIONS: dict[str, set[str]] = {
    "status": {"Actual", "Exercise", "System", "Test", "Draft"},
    "msgType": {"Alert", "Update", "Cancel", "Ack", "Error"},
    "scope": {"Public", "Restricted", "Private"},
    "category": {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra",
                 "CBRNE", "Other"},
    "responseType": {"Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear", "None"},
    "urgency": {"Immediate", "Expected", "Future", "Past", "Unknown"},
    "severity": {"Extreme", "Severe", "Moderate", "Minor", "Unknown"},
    "certainty": {"Observed", "Likely", "Possible", "Unlikely", "Unknown"},
}  # fmt: skip

# xs:dateTime restricted by CAP: no fractional seconds, an explicit numeric offset ("Z" is not allowed)
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
DATE_TIMES = {"sent", "effective", "onset", "expires"}
POINT = r"-?\d+(\.\d+)?,-?\d+(\.\d+)?"
POLYGON = re.compile(rf"^{POINT}( {POINT}){{3,}}$")
CIRCLE = re.compile(rf"^{POINT} \d+(\.\d+)?$")
NO_SPACES = re.compile(r"^[^\s,<&]+$")  # identifier and sender


def local(element: ET.Element) -> str:
    namespace, _, name = element.tag[1:].partition("}")
    assert namespace == CAP_NS, f"{element.tag}: not in the CAP 1.2 namespace"
    return name


def _check_sequence(parent: ET.Element, problems: list[str], path: str) -> None:
    name = local(parent)
    sequence = SEQUENCES.get(name)
    if sequence is None:
        if len(parent):
            problems.append(f"{path}: a simple element has children")
        elif not (parent.text or "").strip():
            problems.append(f"{path}: empty")
        return
    children = [local(child) for child in parent]
    order = [child for child, _, _ in sequence]
    for child in children:
        if child not in order:
            problems.append(f"{path}: unknown element {child!r}")
    known = [child for child in children if child in order]
    if known != sorted(known, key=order.index):
        problems.append(f"{path}: children out of schema order: {known}")
    for child, low, high in sequence:
        count = children.count(child)
        if count < low:
            problems.append(f"{path}: missing required {child!r}")
        if high is not None and count > high:
            problems.append(f"{path}: {child!r} occurs {count} times, at most {high}")
    for child_element in parent:
        _check_sequence(child_element, problems, f"{path}/{local(child_element)}")


def validate(document: bytes) -> ET.Element:
    """The parsed alert; AssertionError listing every problem otherwise."""
    root = ET.fromstring(document)
    problems: list[str] = []
    if local(root) != "alert":
        problems.append(f"root is {local(root)!r}, not 'alert'")
    _check_sequence(root, problems, "alert")
    for element in root.iter():
        name, text = local(element), (element.text or "").strip()
        if name in ENUMERATIONS and text not in ENUMERATIONS[name]:
            problems.append(f"{name}: {text!r} is not one of {sorted(ENUMERATIONS[name])}")
        if name in DATE_TIMES and not DATE_TIME.match(text):
            problems.append(f"{name}: {text!r} is not a CAP dateTime")
        if name == "polygon":
            pairs = text.split(" ")
            if not POLYGON.match(text) or pairs[0] != pairs[-1]:
                problems.append(f"polygon: {text!r} is not a closed ring of at least 4 lat,lon pairs")
        if name == "circle" and not CIRCLE.match(text):
            problems.append(f"circle: {text!r} is not 'lat,lon radius'")
        if name in ("identifier", "sender") and not NO_SPACES.match(text):
            problems.append(f"{name}: {text!r} has spaces, commas or < &")
    find = lambda name: root.find(f"{{{CAP_NS}}}{name}")  # noqa: E731
    msg_type, scope = find("msgType"), find("scope")
    if msg_type is not None and msg_type.text in {"Update", "Cancel", "Ack", "Error"} and find("references") is None:
        problems.append(f"a {msg_type.text} needs <references>")
    if scope is not None and scope.text == "Restricted" and find("restriction") is None:
        problems.append("a Restricted alert needs <restriction>")
    if scope is not None and scope.text == "Private" and find("addresses") is None:
        problems.append("a Private alert needs <addresses>")
    assert not problems, "\n".join(problems)
    return root
