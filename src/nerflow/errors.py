"""Errors a user can act on.

Their message is the whole story: ``file:line: reason``, what a folder lacks, which host
could not be reached and what to do instead. Workflow scripts (:func:`nerflow.stage.start`)
and the command line print such an error as its message alone, without a traceback.
"""


class UserError(Exception):
    """Base class of the errors shown as their message alone (see the module doc)."""
