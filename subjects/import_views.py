"""The coordinator's page for importing the site's existing subjects (docs/import.md): upload the CSV file, read
the dry-run report, then confirm the import of the very file that was checked.

The checked file stays in the user's session (its bytes, name, site and sha256) and the confirm form carries
its sha256: the import runs on the session's bytes only when the hash posted is the hash of those bytes, so
the file imported is the file whose report was shown. A file checked later in the same session (another tab)
replaces it, and confirming the earlier report is then refused. A second confirmation of an imported file is
refused too (the one-time form token answers a double click; a later repeat finds the file imported and its
subject codes taken)."""

from __future__ import annotations

import base64
import binascii

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse

from subjects import importing
from trialrules import subject_import as import_rules
from trials.access import access_trial, sites_for
from trials.models import Role
from trialsite.forms import CheckedForm

SESSION_KEY = "subject-import:{trial}"


class UploadForm(CheckedForm):
    site = forms.ModelChoiceField(queryset=None, label="Site", empty_label=None,
                                  error_messages={"invalid_choice": "Choose one of your sites."})
    file = forms.FileField(label="Subject list (CSV, UTF-8)",
                           help_text=f"At most {import_rules.MAX_ROWS} subjects and "
                                     f"{importing.MAX_FILE_BYTES // 1024} KB; the columns are in the "
                                     "instructions above.",
                           error_messages={"required": "Choose the CSV file of the site's subjects.",
                                           "empty": "The file is empty: it has no header row and no subjects."})

    def __init__(self, *args, sites, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].queryset = sites
        if sites.count() == 1:
            self.fields["site"].initial = sites.first()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith((".csv", ".txt")):
            raise forms.ValidationError("Choose a CSV file (.csv): save the spreadsheet as \"CSV UTF-8\".")
        if upload.size > importing.MAX_FILE_BYTES:
            raise forms.ValidationError(f"The file is larger than {importing.MAX_FILE_BYTES // 1024} KB.")
        return upload


class ConfirmForm(CheckedForm):
    sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput,
                              error_messages={"required": "Check the file first.",
                                              "invalid": "Check the file first."})


def _stored(request, trial) -> dict:
    return request.session.get(SESSION_KEY.format(trial=trial.pk)) or {}


def subject_import(request, code: str):
    trial = access_trial(request.user, code, roles=(Role.COORDINATOR,))
    sites = sites_for(request.user, trial, roles=[Role.COORDINATOR]).order_by("code")
    key = SESSION_KEY.format(trial=trial.pk)
    upload = UploadForm(sites=sites)
    context = {"trial": trial, "form": upload, "checked": None, "confirm": None, "columns": import_rules}
    status = 200
    if request.method == "POST" and request.POST.get("action") == "confirm":
        return _confirm(request, trial, sites, key, context)
    if request.method == "POST":
        upload = context["form"] = UploadForm(request.POST, request.FILES, sites=sites)
        status = 422
        if upload.is_valid():
            site, file = upload.cleaned_data["site"], upload.cleaned_data["file"]
            content = file.read()
            checked = importing.check(trial=trial, site=site, file_name=file.name, content=content)
            context.update(checked=checked, site=site)
            if checked.ok:
                status = 200
                request.session[key] = {"sha256": checked.sha256, "file_name": file.name, "site": site.pk,
                                        "content": base64.b64encode(content).decode("ascii")}
                context["confirm"] = ConfirmForm(initial={"sha256": checked.sha256})
            else:
                request.session.pop(key, None)
    return TemplateResponse(request, "subjects/import.html", context, status=status)


def _refuse(request, context, message: str):
    context["refused"] = message
    return TemplateResponse(request, "subjects/import.html", context, status=422)


def _confirm(request, trial, sites, key, context):
    form = ConfirmForm(request.POST)
    stored = _stored(request, trial)
    if not form.is_valid():
        return _refuse(request, context, "Nothing was imported: check the file first.")
    posted = form.cleaned_data["sha256"]
    if stored.get("imported") == posted:
        return _refuse(request, context, f"{stored['file_name']} was already imported ({stored['count']} subjects): "
                                         "nothing was imported twice.")
    if stored.get("sha256") != posted:
        shown = f" The file checked last is {stored['file_name']}." if stored.get("sha256") else ""
        return _refuse(request, context, "Nothing was imported: this is not the file checked last in your session "
                                         f"(it changed after the check).{shown} Check the file again, then "
                                         "confirm its report.")
    try:
        content = base64.b64decode(stored["content"], validate=True)
    except (KeyError, binascii.Error):
        content = b""
    site = sites.filter(pk=stored.get("site")).first()
    if importing.sha256(content) != posted or site is None:
        request.session.pop(key, None)
        return _refuse(request, context, "Nothing was imported: the checked file is no longer available. Check it "
                                         "again.")
    try:
        made = importing.subjects_import(user=request.user, trial=trial, site=site, file_name=stored["file_name"],
                                         content=content)
    except importing.ImportRefused as exc:  # the trial changed since the check (an enrolment, another import)
        request.session.pop(key, None)
        context.update(checked=importing.Checked(stored["file_name"], posted, exc.report), site=site)
        return _refuse(request, context, "Nothing was imported: the file no longer passes the check (the trial's "
                                         "subjects or cohorts changed since). The problems are below.")
    except ValidationError as exc:
        return _refuse(request, context, " ".join(exc.messages))
    request.session[key] = {"imported": posted, "file_name": stored["file_name"], "count": len(made)}
    messages.success(request, f"{len(made)} subjects imported from {stored['file_name']} into {site.code}.")
    return redirect(reverse("subjects:list", args=[trial.code]))
