"""The official mailbox as a source of received workbooks (IMAP), and reply drafts to senders.

``pull`` (``xhht mail pull``) saves every workbook a mailbox received into a folder, with the mail
server's received time, reading without changing the mailbox; ``drafts`` (``xhht mail drafts``)
puts a reply with the returned, marked copy into the Drafts folder for every unit whose file has
errors. ``mime`` reads one message; ``imap`` holds the account, the password and the session.
"""

from .imap import Account, MailError, account, password, save_password, session
from .pull import PullResult, pull, stored_name

__all__ = ["Account", "MailError", "PullResult", "account", "password", "pull", "save_password", "session",
           "stored_name"]  # fmt: skip
