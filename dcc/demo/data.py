"""Small hand-written lists for deterministic synthetic demo data (French names, towns with INSEE codes)."""

from __future__ import annotations

from typing import Any

FAMILY_NAMES = [
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
    "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD",
    "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MULLER", "LEFEVRE", "FAURE", "ANDRE",
    "MERCIER", "BLANC", "GUERIN", "BOYER", "GARNIER", "CHEVALIER", "FRANCOIS", "LEGRAND", "GAUTHIER", "GARCIA",
    "PERRIN", "ROBIN", "CLEMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON",
    "LE GALL", "KERGOAT", "SCHMITT", "KLEIN", "WEBER", "MEYER", "HOARAU", "PAYET", "ETCHEVERRY", "N'DIAYE",
]
GIVEN_F = [
    "Marie", "Nathalie", "Isabelle", "Sylvie", "Catherine", "Françoise", "Valérie", "Christine", "Sophie",
    "Sandrine", "Anne", "Monique", "Élodie", "Camille", "Léa", "Chloé", "Manon", "Inès", "Jeanne", "Hélène",
]
GIVEN_M = [
    "Jean", "Philippe", "Michel", "Alain", "Patrick", "Nicolas", "Christophe", "Pierre", "Christian", "Éric",
    "Frédéric", "Laurent", "Stéphane", "David", "Julien", "Thomas", "Antoine", "Hugo", "Louis", "Gabriel",
]
SECOND_GIVEN = ["Marie", "Anne", "Louise", "Claire", "Paul", "Joseph", "André", "Jacques", "Henri", "Rose"]

# (INSEE COG code, commune, postal code)
TOWNS = [
    ("44109", "NANTES", "44000"), ("49007", "ANGERS", "49000"), ("72181", "LE MANS", "72000"),
    ("85191", "LA ROCHE-SUR-YON", "85000"), ("53130", "LAVAL", "53000"), ("44184", "SAINT-NAZAIRE", "44600"),
    ("67482", "STRASBOURG", "67000"), ("57463", "METZ", "57000"), ("68224", "MULHOUSE", "68100"),
    ("54395", "NANCY", "54000"), ("51454", "REIMS", "51100"), ("10387", "TROYES", "10000"),
    ("35238", "RENNES", "35000"), ("29019", "BREST", "29200"), ("31555", "TOULOUSE", "31000"),
    ("34172", "MONTPELLIER", "34000"), ("33063", "BORDEAUX", "33000"), ("59350", "LILLE", "59000"),
    ("69123", "LYON", "69001"), ("13055", "MARSEILLE", "13001"), ("06088", "NICE", "06000"),
    ("2A004", "AJACCIO", "20000"), ("97411", "SAINT-DENIS", "97400"), ("75056", "PARIS", "75001"),
]
STREETS = [
    "rue de la République", "avenue Jean Jaurès", "rue Victor Hugo", "boulevard Pasteur", "rue des Lilas",
    "place du Marché", "rue Nationale", "allée des Tilleuls", "chemin des Vignes", "rue du Moulin",
]

# Regional networks (DSRC): code, name, national id, establishments (name, town index, dept, facility type)
REGIONS: list[dict[str, Any]] = [
    {
        "code": "A", "name": "Pays de la Loire", "dsrc_name": "ONCO Pays de la Loire", "dsrc_id": "5201",
        "alsace_moselle": False,
        "establishments": [("CHU de Nantes", 0, "44"), ("Institut de Cancérologie de l'Ouest", 1, "49")],
    },
    {
        "code": "B", "name": "Grand Est", "dsrc_name": "Onco Grand Est", "dsrc_id": "4401",
        "alsace_moselle": True,
        "establishments": [("Hôpitaux Universitaires de Strasbourg", 6, "67"), ("CHR Metz-Thionville", 7, "57")],
    },
    {
        "code": "C", "name": "Bretagne", "dsrc_name": "OncoBretagne", "dsrc_id": "5301",
        "alsace_moselle": False,
        "establishments": [("CHU de Rennes", 12, "35"), ("CHU de Brest", 13, "29")],
    },
    {
        "code": "D", "name": "Occitanie", "dsrc_name": "Onco-Occitanie", "dsrc_id": "7601",
        "alsace_moselle": False,
        "establishments": [("CHU de Toulouse", 14, "31"), ("Institut du Cancer de Montpellier", 15, "34")],
    },
]

# Board templates: name, kind, appareil, organe, transversal, recours, pediatric, rrule, time, topographies,
# specialties required in the board's quorum (besides the defaults), treatments proposed.
SURGEON_BY_ORGAN = {
    "76752008": "G15_10/SM20",  # sein: gynéco-obstétrique
    "86762007": "G15_10/SM14",  # digestif: chirurgie viscérale
    "312419003": "G15_10/SM11",  # thorax: chirurgie thoracique
    "90264002": "G15_10/SM12",  # urologie
    "25087005": "G15_10/SM31",  # neuro-chirurgie
}
MEDICAL_ONCOLOGIST = "G15_10/SM36"
RADIOTHERAPIST = "G15_10/SM45"
PATHOLOGIST = "G15_10/SM01"
RADIOLOGIST = "G15_10/SM44"
GP = "G15_10/SM26"
GENETICIST = "G15_10/SM17"
GERIATRICIAN = "G15_10/SM18"
PEDIATRICIAN = "G15_10/SM40"

# Tumours per board: (ICD-10 topography, ICD-O-3 morphology) pairs that are compatible (dcc.domain.tumour);
# "tnm": clinical TNM (UICC 8th edition) with the stage group it gives for that organ, only where UICC has a
# TNM (none for the central nervous system).
BOARDS: list[dict[str, Any]] = [
    {"name": "Sein", "kind": "organ", "appareil": "76752008", "organe": "76752008",
     "rrule": "FREQ=WEEKLY;BYDAY=TU", "time": "12:30",
     "tumours": [("C50.2", "8500/3"), ("C50.4", "8520/3"), ("C50.8", "8500/3"), ("C50.9", "8500/3")],
     "tnm": [("cT1c", "cN0", "cM0", "IA"), ("cT2", "cN0", "cM0", "IIA"), ("cT2", "cN1", "cM0", "IIB"),
             ("cT3", "cN1", "cM0", "IIIA"), ("cT2", "cN1", "cM1", "IV")]},
    {"name": "Digestif", "kind": "organ", "appareil": "86762007", "organe": "MED-251",
     "rrule": "FREQ=WEEKLY;BYDAY=TH", "time": "08:00",
     "tumours": [("C18.0", "8140/3"), ("C18.7", "8140/3"), ("C18.9", "8140/3")],
     "tnm": [("cT2", "cN0", "cM0", "I"), ("cT3", "cN0", "cM0", "IIA"), ("cT3", "cN1a", "cM0", "IIIB"),
             ("cT4a", "cN0", "cM0", "IIB"), ("cT3", "cN1", "cM1a", "IVA")]},
    {"name": "Thorax", "kind": "organ", "appareil": "312419003", "organe": "MED-255",
     "rrule": "FREQ=MONTHLY;BYDAY=1WE,3WE", "time": "17:00",
     "tumours": [("C34.1", "8140/3"), ("C34.3", "8070/3"), ("C34.9", "8140/3")],
     "tnm": [("cT1c", "cN0", "cM0", "IA3"), ("cT2a", "cN0", "cM0", "IB"), ("cT3", "cN1", "cM0", "IIIA"),
             ("cT2a", "cN2", "cM0", "IIIA"), ("cT2b", "cN2", "cM1c", "IVB")]},
    {"name": "Urologie", "kind": "organ", "appareil": "90264002", "organe": "41216001",
     "rrule": "FREQ=WEEKLY;BYDAY=MO", "time": "13:00", "tumours": [("C61", "8140/3")],
     "tnm": [("cT1c", "cN0", "cM0", "I"), ("cT2b", "cN0", "cM0", "II"), ("cT3a", "cN0", "cM0", "III"),
             ("cT3b", "cN1", "cM0", "IV")]},
    {"name": "Oncogénétique", "kind": "transversal", "transversal": "ORG-129",
     "rrule": "FREQ=MONTHLY;BYDAY=2FR", "time": "14:00", "tumours": [("C50.9", "8500/3"), ("C18.9", "8140/3")],
     "tnm": []},
    {"name": "Soins de support", "kind": "transversal", "transversal": "C15747",
     "rrule": "FREQ=WEEKLY;BYDAY=FR", "time": "11:00", "tumours": [("C34.9", "8140/3"), ("C61", "8140/3")],
     "tnm": []},
    {"name": "Recours régional neuro-oncologie", "kind": "organ", "appareil": "25087005", "organe": "21483005",
     "recours": True, "rrule": "FREQ=MONTHLY;BYDAY=4TU", "time": "16:00",
     "tumours": [("C71.1", "9440/3"), ("C71.9", "9440/3")], "tnm": []},
    {"name": "Oncopédiatrie", "kind": "organ", "appareil": "25087005", "organe": "21483005",
     "pediatric": True, "rrule": "FREQ=WEEKLY;BYDAY=WE", "time": "09:00", "tumours": [("C71.6", "9470/3")],
     "tnm": []},
]

QUESTIONS = [
    "Quelle stratégie thérapeutique proposer en première intention ?",
    "Indication d'une chirurgie d'emblée ou d'un traitement néoadjuvant ?",
    "Faut-il proposer une radiothérapie adjuvante ?",
    "Place d'une thérapie ciblée au vu du profil moléculaire ?",
    "Conduite à tenir devant une rechute locale ?",
]
DISCOVERY_MODES = ["Dépistage organisé", "Découverte fortuite", "Symptômes cliniques", "Bilan d'extension"]
REFERENTIALS = [
    ("Référentiel régional cancer du sein", "2025.2"),
    ("Thésaurus national de cancérologie digestive", "2025"),
    ("Référentiel AURA cancers bronchiques", "2026.1"),
    ("Recommandations AFU cancer de la prostate", "2024-2026"),
]
