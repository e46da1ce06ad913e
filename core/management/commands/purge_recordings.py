"""Delete recording files older than RECORDINGS_RETENTION_DAYS (the audit events stay)."""

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from core.models import Recording
from core.recordings import recordings_dir


class Command(BaseCommand):
    help = "Delete exec/attach recording files past the retention period; their audit events remain."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=None, help="override RECORDINGS_RETENTION_DAYS")
        parser.add_argument("--dry-run", action="store_true", help="only list what would be deleted")

    def handle(self, *args, days: int | None = None, dry_run: bool = False, **options) -> None:
        days = settings.RECORDINGS_RETENTION_DAYS if days is None else days
        cutoff = timezone.now() - timedelta(days=days)
        root = recordings_dir().resolve()
        purged = 0
        for recording in Recording.objects.filter(started_at__lt=cutoff).exclude(path=""):
            file = Path(recording.path).resolve()
            if dry_run:
                self.stdout.write(f"would delete {file}")
                purged += 1
                continue
            if file.is_relative_to(root):
                file.unlink(missing_ok=True)
            recording.path = ""
            recording.size = 0
            recording.save(update_fields=["path", "size"])
            purged += 1
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(f"{verb} {purged} recording(s) older than {days} day(s).")
