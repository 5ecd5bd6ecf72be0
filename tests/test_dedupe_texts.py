"""Hand-written article texts for the dedupe tests (no tests here; never used by benchmarks/, so the
labelled benchmark set shares no text with the tests)."""

from __future__ import annotations

FERRY_TITLE = "Island ferry returns to service after three-month overhaul"
FERRY = [
    "The passenger ferry linking Merrow Island to the mainland resumed its crossings on "
    "Tuesday morning after a three-month overhaul of its engines and hull.",
    "Harbour master Tobias Grell said the first sailing left the pier at seven o'clock with "
    "forty-two passengers and a delivery van carrying medicine for the island pharmacy.",
    "During the repairs islanders relied on a chartered fishing boat that could carry only "
    "twelve people at a time and could not sail in strong winds.",
    "The council spent 1.8 million on the work, which included new propellers, a widened "
    "ramp for wheelchairs and a heated waiting room on the upper deck.",
    "Residents had complained for years that the old vessel broke down every winter, "
    "leaving school children stranded on the wrong side of the water.",
    "The operator promised a timetable with an extra evening crossing on Fridays from next "
    "month and said fares would stay at last year's level until the spring.",
]

FERRY_OTHER_TITLE = "Merrow Island ferry back after repairs"
FERRY_OTHER = [  # an independent write-up of the same event: same facts, own words
    "Islanders on Merrow cheered on Tuesday as their ferry came back from the shipyard.",
    "The boat had been out of action since the summer while mechanics replaced its engines, "
    "and locals say the wait felt far longer than three months.",
    "Pharmacist Ines Dorval told reporters she was relieved that medicine deliveries no "
    "longer depend on a small fishing boat and calm weather.",
    "According to the council the overhaul cost close to two million, a figure opposition "
    "members called excessive for a forty-year-old vessel.",
    "Tobias Grell, who runs the harbour, expects the busy Friday evenings to need a second "
    "crossing, which the operator plans to add soon.",
    "Ticket prices are frozen until spring, the operator confirmed in a short statement.",
]

ORCHARD_TITLE = "Cold snap threatens apple blossom in valley orchards"
ORCHARD = [
    "Fruit growers across the Callen valley lit smudge pots and ran sprinklers through the "
    "night as temperatures fell to minus four degrees during the blossom season.",
    "Orchard owner Marta Villeneuve said the frost arrived two weeks later than usual, just "
    "as the first flowers opened on her oldest trees near the river.",
    "Spraying water over the branches forms a thin coat of ice that keeps the buds at zero "
    "degrees, a technique the growers' cooperative recommends to its members.",
    "Agronomists will inspect the blossoms on Thursday to estimate how much of the harvest "
    "was lost, and insurers have asked farmers to photograph damaged branches.",
    "Last year a similar cold night destroyed nearly a third of the crop and pushed the "
    "price of local cider up by a fifth in the autumn.",
]

LIBRARY_TITLE = "Old tram depot becomes the city's largest public library"
LIBRARY = [
    "The brick tram depot on Fennick Street, empty for two decades, opens on Saturday as a "
    "public library with room for two hundred thousand books.",
    "Architects kept the iron roof trusses and the rails in the floor, which now guide "
    "movable shelves between the reading rooms.",
    "The city organised a neighbourhood vote on the name, and residents chose to call the "
    "building The Depot rather than honour a local politician.",
    "A children's floor with a puppet theatre and a workshop for repairing bicycles and "
    "radios will open later in the year once the heating is finished.",
    "Librarians expect the favourite attraction to be the rooftop garden, which offers a "
    "view over the river and the old colour-painted warehouses.",
]

BRIEFING_TITLE = "Morning Briefing"
BRIEFING_MONDAY = [
    "Good morning. Talks between the two rail unions resumed overnight and a strike planned "
    "for Wednesday may still be called off if the pay offer improves.",
    "Elsewhere the central bank publishes its inflation report at noon, and economists "
    "expect a small rise driven by energy bills and the cost of rent.",
    "In sport, the national hockey team lost its friendly against the visitors in a shootout "
    "after a goalless draw in front of a half-empty arena.",
]
BRIEFING_TUESDAY = [
    "Good morning. A landslide closed the coastal road near Pellin overnight and engineers "
    "say it will stay shut for at least a week while they secure the cliff.",
    "Parliament votes today on the bill that would let pharmacies prescribe antibiotics for "
    "simple infections, a change that doctors' groups oppose.",
    "The weather stays dry and mild for most of the country, with fog in the valleys that "
    "should lift by late morning.",
]


def html(paragraphs: list[str]) -> str:
    """Paragraphs as the HTML a feed carries."""
    return "".join(f"<p>{p}</p>" for p in paragraphs)
