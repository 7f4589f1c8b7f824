"""One click, one record: every form that changes data carries a one-time submission token
(``{% submission_token %}``); :class:`submissions.middleware.SubmissionTokenMiddleware` runs the view
for the first POST of a token only and sends any repeat (a double click, a re-sent POST) to where the
first one went. See docs/once.md."""
