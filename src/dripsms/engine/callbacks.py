"""Status-callback URLs that carry the message's own id, signed.

Twilio posts status changes to the ``StatusCallback`` URL given at create. With the
message id in that URL, a callback ties the SID to its row even when the answer to the
create was lost; the signature stops anyone from tying a SID to another message.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

STATUS_PATH = "/twilio/status"


def callback_token(secret: str, message_id: int) -> str:
    """A short HMAC-SHA256 of the message id."""
    digest = hmac.new(secret.encode(), f"message:{message_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def status_callback_url(public_url: str, secret: str, message_id: int) -> str:
    """``{public_url}/twilio/status?m=ID&t=TOKEN``."""
    query = urlencode({"m": message_id, "t": callback_token(secret, message_id)})
    return f"{public_url.rstrip('/')}{STATUS_PATH}?{query}"


def verify_callback(secret: str, message_id: int, token: str) -> bool:
    """Whether ``token`` was made for ``message_id`` with ``secret``."""
    return hmac.compare_digest(callback_token(secret, message_id), token)
