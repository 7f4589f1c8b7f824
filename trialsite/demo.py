"""The demo set-up: two sites and one user per role in each seed trial (``manage.py seed_demo``).

Investigator, sponsor and administrator sign in with a second factor (settings.MFA_REQUIRED_ROLES). Their
demo authenticators use the published secrets below, so anyone can get the current code with
``./dev manage demo_code USER`` or by adding the secret to an authenticator app. Demo only: never load
these users where real data lives.
"""

DEMO_SITES = [
    {"code": "SITE-A", "name": "City Hospital Phase I Unit"},
    {"code": "SITE-B", "name": "University Cancer Centre"},
]

DEMO_USERS = [
    {"username": "coordinator", "password": "demo-coordinator", "role": "coordinator", "site": "SITE-A",
     "first_name": "Carla", "last_name": "Coordinator", "email": "coordinator@example.org"},
    {"username": "investigator", "password": "demo-investigator", "role": "investigator", "site": "SITE-A",
     "totp_secret": "DEMOINVESTIGATOR",
     "first_name": "Ivan", "last_name": "Investigator", "email": "investigator@example.org"},
    {"username": "sponsor", "password": "demo-sponsor", "role": "sponsor", "site": None,
     "totp_secret": "DEMOSPONSORTOTPS",
     "first_name": "Sofia", "last_name": "Sponsor", "email": "sponsor@example.org"},
    {"username": "pharmacokineticist", "password": "demo-pharmacokineticist", "role": "pharmacokineticist",
     "site": None, "first_name": "Paula", "last_name": "Pharmacokineticist", "email": "pk@example.org"},
    {"username": "monitor", "password": "demo-monitor", "role": "monitor", "site": "SITE-A",
     "first_name": "Marta", "last_name": "Monitor", "email": "monitor@example.org"},
    {"username": "datamanager", "password": "demo-datamanager", "role": "data_manager", "site": None,
     "first_name": "Dev", "last_name": "Datamanager", "email": "datamanager@example.org"},
    {"username": "admin", "password": "demo-administrator", "role": "administrator", "site": None,
     "totp_secret": "DEMOADMINTOTPKEY",
     "first_name": "Ada", "last_name": "Administrator", "email": "admin@example.org"},
]
