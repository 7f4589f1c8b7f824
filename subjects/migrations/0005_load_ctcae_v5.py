"""Load the CTCAE v5.0 terms (NCI, public domain) shipped in subjects/data/ctcae_v5.csv."""

from django.db import migrations


def load(apps, schema_editor):
    from subjects.ctcae import load as load_terms

    load_terms(apps.get_model("subjects", "CtcaeTerm"))


def unload(apps, schema_editor):
    apps.get_model("subjects", "CtcaeTerm").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("subjects", "0004_assessment_assessmentevent_continuationexception_and_more")]
    operations = [migrations.RunPython(load, unload)]
