from django.db import migrations, models

from escalation.changes import live_drop_sql, live_trigger_sql


class Migration(migrations.Migration):

    dependencies = [
        ('escalation', '0006_trial_change_review'),
        ('visits', '0005_watch_marks'),
    ]

    operations = [
        migrations.AddField(
            model_name='trialchange',
            name='live',
            field=models.UUIDField(editable=False, null=True),
        ),
        # The triggers of what the dashboard counts live (escalation.changes.LIVE_TABLES): visits and sites.
        migrations.RunSQL(live_trigger_sql(), live_drop_sql()),
        migrations.RunSQL("UPDATE escalation_trialchange SET live = gen_random_uuid()", migrations.RunSQL.noop),
    ]
