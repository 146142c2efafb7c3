"""Process-wide defaults for dumps; arguments of save_dump override them for one dump.

    import pyheapdump.config
    pyheapdump.config.redaction.enabled = False          # no redaction (dumps hold secrets in clear)
    pyheapdump.config.redaction.patterns.append(r"sk_live_[0-9a-zA-Z]{24}")
    pyheapdump.config.redaction.extra_secrets.append(database_password)
"""

from __future__ import annotations

from pyheapdump.dump.redaction import RedactionConfig

redaction = RedactionConfig()
