"""Load the protocol files (``protocols/*.toml``, or the paths given) into the database."""

from pathlib import Path

import pghistory
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from trials.protocol_file import ProtocolFileError, read_protocol
from trials.services import protocol_load


class Command(BaseCommand):
    help = "Create or update trials from protocol definition files (TOML)."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, help="protocol files (default: protocols/*.toml)")

    def handle(self, *args, paths, **options):
        paths = paths or sorted((Path(settings.BASE_DIR) / "protocols").glob("*.toml"))
        if not paths:
            raise CommandError("no protocol files found in protocols/")
        # Check every file before writing anything: one bad file loads none.
        try:
            definitions = [read_protocol(path) for path in paths]
        except ProtocolFileError as exc:
            raise CommandError(f"protocol file rejected: {exc}") from exc
        with pghistory.context(source="load_protocols"):
            for definition in definitions:
                trial, created = protocol_load(definition=definition)
                verb = "created" if created else "updated"
                self.stdout.write(f"{trial.code}: {verb} from {definition.path.name} "
                                  f"({trial.dose_levels.count()} dose levels, {trial.drugs.count()} drugs)")
