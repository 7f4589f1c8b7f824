"""The demo set-up: two sites and one user per role in each seed trial (``manage.py seed_demo``)."""

DEMO_SITES = [
    {"code": "SITE-A", "name": "City Hospital Phase I Unit"},
    {"code": "SITE-B", "name": "University Cancer Centre"},
]

DEMO_USERS = [
    {"username": "coordinator", "password": "demo-coordinator", "role": "coordinator", "site": "SITE-A",
     "first_name": "Carla", "last_name": "Coordinator", "email": "coordinator@example.org"},
    {"username": "investigator", "password": "demo-investigator", "role": "investigator", "site": "SITE-A",
     "first_name": "Ivan", "last_name": "Investigator", "email": "investigator@example.org"},
    {"username": "sponsor", "password": "demo-sponsor", "role": "sponsor", "site": None,
     "first_name": "Sofia", "last_name": "Sponsor", "email": "sponsor@example.org"},
    {"username": "admin", "password": "demo-admin", "role": "administrator", "site": None,
     "first_name": "Ada", "last_name": "Administrator", "email": "admin@example.org"},
]
