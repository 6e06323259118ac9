"""The code system this project publishes for bed capacity in FHIR: one list, read by every part.

A report's group is a bed type, its populations are counts. Where HL7's situational-awareness
guides (SANER, and the US SAFR guide after it) name a bed measure, the code is that name; where
they do not (oxygen beds, out-of-service beds, beds held for incoming patients), the code is ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.vocab import BedType, FacilityStatus

# The canonical URL of the code system (an identifier, also served as a page by this API).
SYSTEM = "urn:hotline1022:fhir:CodeSystem:bed-capacity"
CODE_SYSTEM_ID = "bed-capacity"
MEASURE = "urn:hotline1022:fhir:Measure:bed-capacity"
SANER = "SANER / SAFR"


@dataclass(frozen=True)
class Concept:
    code: str
    vi: str
    en: str
    definition: str
    # What the code stands for here: a bed type, a count, or a facility status.
    ours: str
    source: str = "hotline1022"


BED_TYPE_CONCEPTS: dict[BedType, Concept] = {
    BedType.GENERAL: Concept(
        "numTotBeds",
        "Giường điều trị thường",
        "General inpatient beds",
        "Inpatient beds without oxygen, intensive care or a special ward (SANER: all beds).",
        BedType.GENERAL,
        SANER,
    ),
    BedType.OXYGEN: Concept(
        "numO2Beds",
        "Giường có thở oxy",
        "Beds with oxygen",
        "Beds with piped or concentrator oxygen for patients who need it but not intensive care.",
        BedType.OXYGEN,
    ),
    BedType.ICU: Concept(
        "numICUBeds",
        "Giường hồi sức tích cực (ICU)",
        "Intensive care beds",
        "Intensive care beds, staffed.",
        BedType.ICU,
        SANER,
    ),
    BedType.VENTILATOR: Concept(
        "numVent",
        "Máy thở",
        "Mechanical ventilators",
        "Beds with an invasive mechanical ventilator.",
        BedType.VENTILATOR,
        SANER,
    ),
    BedType.ECMO: Concept(
        "numECMO",
        "Máy ECMO",
        "ECMO",
        "Beds with extracorporeal membrane oxygenation.",
        BedType.ECMO,
    ),
    BedType.PAEDIATRIC: Concept(
        "numPedsBeds",
        "Giường nhi",
        "Paediatric beds",
        "Inpatient beds for children.",
        BedType.PAEDIATRIC,
    ),
    BedType.OBSTETRIC: Concept(
        "numObstBeds",
        "Giường sản khoa",
        "Obstetric beds",
        "Beds for pregnant and post-partum patients.",
        BedType.OBSTETRIC,
    ),
}

# The counts of a pool. Reports bring the first three; what we serve adds held and available.
TOTAL, OCCUPIED, OUT_OF_SERVICE, HELD, AVAILABLE = (
    "total",
    "occupied",
    "out_of_service",
    "held",
    "available",
)
COUNT_CONCEPTS: dict[str, Concept] = {
    TOTAL: Concept(
        "total",
        "Tổng số",
        "Total",
        "Beds of the type, whatever their state.",
        "count: total",
        SANER,
    ),
    OCCUPIED: Concept(
        "occupied",
        "Đang có bệnh nhân",
        "Occupied",
        "Beds with a patient in them (SANER: numBedsOcc, numICUBedsOcc, numVentUse).",
        "count: occupied",
        SANER,
    ),
    OUT_OF_SERVICE: Concept(
        "out-of-service",
        "Không sử dụng được",
        "Out of service",
        "Beds that cannot take a patient now (no staff, broken, being cleaned).",
        "count: out_of_service",
    ),
    HELD: Concept(
        "held",
        "Đang giữ cho bệnh nhân chuyển đến",
        "Held for incoming patients",
        "Beds promised to patients on their way; served, never reported.",
        "count: held",
    ),
    AVAILABLE: Concept(
        "available",
        "Còn trống",
        "Available",
        "Total less occupied, out of service and held (SANER: numBeds); served, never reported.",
        "count: available",
        SANER,
    ),
}
REPORTED_COUNTS = (TOTAL, OCCUPIED, OUT_OF_SERVICE)

STATUS_CONCEPTS: dict[FacilityStatus, Concept] = {
    FacilityStatus.OPEN: Concept(
        "open", "Nhận bệnh", "Open", "Takes patients.", "facility status: open"
    ),
    FacilityStatus.ADVISORY: Concept(
        "advisory",
        "Nhận bệnh, có lưu ý",
        "Open with an advisory",
        "Takes patients; read the note first.",
        "facility status: advisory",
    ),
    FacilityStatus.FULL: Concept(
        "full",
        "Tạm ngưng nhận (chuyển hướng)",
        "Full: on diversion",
        "Takes no patient until the notice lapses.",
        "facility status: full",
    ),
    FacilityStatus.CLOSED: Concept(
        "closed", "Đóng cửa", "Closed", "Takes no patient.", "facility status: closed"
    ),
}

BED_TYPE_BY_CODE = {c.code: t for t, c in BED_TYPE_CONCEPTS.items()}
COUNT_BY_CODE = {c.code: name for name, c in COUNT_CONCEPTS.items()}
