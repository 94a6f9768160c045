"""The standard EST taxonomy every new municipality starts with (it adjusts its own list
afterwards), and the rescue service's typical event types mapped onto it: a suggested default
for a rescue-service integration, which the coordinator edits on the meeting map."""
from __future__ import annotations

# code, label_sv, label_en, group, colour, icon
CATEGORIES = [
    ("skadegorelse", "Skadegörelse", "Vandalism", "skadegorelse", "#d95f02", "hammer"),
    ("klotter", "Klotter", "Graffiti", "skadegorelse", "#e7298a", "spray-can"),
    ("nedskrapning", "Nedskräpning", "Littering, dumped goods", "miljo", "#66a61e", "trash"),
    ("brand_container", "Brand i container/papperskorg", "Fire in container or bin", "brand", "#e31a1c", "fire"),
    ("brand_fordon", "Brand i fordon", "Vehicle fire", "brand", "#b10026", "car-burn"),
    ("brand_byggnad", "Brand i byggnad", "Building fire", "brand", "#800026", "house-fire"),
    ("brand_mark", "Brand i skog/mark", "Grass or forest fire", "brand", "#fc4e2a", "tree-fire"),
    ("ordningsstorning", "Ordningsstörning", "Disorder", "ordning", "#7570b3", "megaphone"),
    ("otrygg_samling", "Otrygghetsskapande samling", "Groups gathering that make people feel unsafe",
     "ordning", "#6a3d9a", "users"),
    ("narkotika", "Narkotika", "Drugs (dealing, syringes found)", "brott", "#1b9e77", "syringe"),
    ("stold_inbrott", "Stöld/inbrott", "Theft, burglary", "brott", "#386cb0", "lock-open"),
    ("hot_vald", "Hot och våld", "Threats, violence", "brott", "#a6761d", "alert"),
    ("otrygg_plats", "Otrygg plats", "Unsafe place (lighting, bushes, hidden paths)", "plats", "#666666", "lamp"),
    ("overgivet_fordon", "Övergivet fordon", "Abandoned vehicle", "miljo", "#e6ab02", "car"),
    ("ovrigt", "Övrigt", "Other", "ovrigt", "#999999", "dots"),
]

# Category groups as people read them (the codes above are internal: hotspot filters, exports).
GROUP_SV = {"skadegorelse": "Skadegörelse", "miljo": "Miljö och nedskräpning", "brand": "Brand",
            "ordning": "Ordning och otrygghet", "brott": "Brott", "plats": "Otrygg plats", "ovrigt": "Övrigt"}

# What each standard category covers, in Swedish, for citizens choosing one (Open311's service
# description); a municipality's own categories fall back to their label.
DESCRIPTION_SV = {
    "skadegorelse": "Förstörd eller sönderslagen egendom: fönster, busskurer, skyltar, lekplatser",
    "klotter": "Klotter och tags på väggar, fasader, skyltar och fordon",
    "nedskrapning": "Skräp, dumpade sopor och grovavfall",
    "brand_container": "Brand i container, sopkärl eller papperskorg",
    "brand_fordon": "Brand i bil, moped eller cykel",
    "brand_byggnad": "Brand i byggnad, soprum eller trapphus",
    "brand_mark": "Brand i gräs, skog eller mark",
    "ordningsstorning": "Bråk, skrik, fylla och annat som stör ordningen",
    "otrygg_samling": "Grupper som samlas så att andra känner sig otrygga",
    "narkotika": "Langning, narkotikaanvändning, sprutor som hittats",
    "stold_inbrott": "Stöld och inbrott, också försök",
    "hot_vald": "Hot och våld mot person",
    "otrygg_plats": "Plats som känns otrygg: trasig belysning, igenvuxna buskar, dolda gångvägar",
    "overgivet_fordon": "Bil, cykel eller annat fordon som lämnats kvar",
    "ovrigt": "Annat som påverkar tryggheten",
}


def group_label(code: str) -> str:
    """A category group's Swedish name (a municipality's own group: its code, capitalised)."""
    return GROUP_SV.get(code, code.capitalize())


# A rescue service's own event types (as call-out systems name them) -> category codes above.
RESCUE_EVENT_TYPES = [
    ("Brand i container", "brand_container"),
    ("Brand i papperskorg", "brand_container"),
    ("Brand i sopkärl", "brand_container"),
    ("Brand i fordon", "brand_fordon"),
    ("Brand i bil", "brand_fordon"),
    ("Brand i moped/cykel", "brand_fordon"),
    ("Brand i byggnad", "brand_byggnad"),
    ("Brand i soprum", "brand_byggnad"),
    ("Brand i trapphus", "brand_byggnad"),
    ("Brand i skog/mark", "brand_mark"),
    ("Gräsbrand", "brand_mark"),
    ("Brand ute – övrigt", "brand_mark"),  # outdoors, not a container or vehicle: closest is "skog/mark"
]
