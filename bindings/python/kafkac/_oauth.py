"""OAUTHBEARER tokens: the `oauth_cb` configuration callback of the producer and the
consumer, and the calls that hand a token to the library."""
import atexit
import base64
import json
import threading
import weakref
from ctypes import c_char_p

from . import _ffi as F
from ._error import error_from

#: Clients whose refresh callback runs on a background thread: freed at interpreter
#: exit, before Python is torn down, so that the thread never calls into a finalizing
#: interpreter.
_background_clients = weakref.WeakSet()

#: The C thunks of those clients, kept for the life of the process: freeing a client
#: waits at most 10 s for a callback in progress, after which the library lets it finish
#: on its own, still holding the function pointer.
_kept_thunks = []
_kept_lock = threading.Lock()


def _free_background_clients():
    for client in list(_background_clients):
        client.__del__()


atexit.register(_free_background_clients)


def _principal_of(token):
    """The `sub` claim of a JWT, else "unknown" (the library needs a principal name; it
    only shows it in its messages)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        sub = claims.get("sub")
        if isinstance(sub, str) and sub:
            return sub
    except (IndexError, ValueError, AttributeError):
        pass
    return "unknown"


def token_args(token, expiry, principal=None, extensions=None):
    """The C arguments of `kc_*oauthbearer_set_token` for a token, its expiry (seconds
    since the epoch, float), its principal (None: the JWT's `sub` claim) and its SASL
    extensions (a dict of str to str, or None)."""
    if isinstance(token, bytes):
        token = token.decode("utf-8")
    if not isinstance(token, str):
        raise TypeError(f"the token must be str, not {type(token).__name__}")
    if isinstance(expiry, bool) or not isinstance(expiry, (int, float)):
        raise TypeError(f"the expiry must be seconds since the epoch (a number), "
                        f"not {type(expiry).__name__}")
    if principal is None:
        principal = _principal_of(token)
    if not isinstance(principal, str):
        raise TypeError(f"the principal must be str, not {type(principal).__name__}")
    flat = []
    for k, v in (extensions or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError("SASL extensions must be a dict of str to str")
        flat += [k.encode("utf-8"), v.encode("utf-8")]
    ext = (c_char_p * len(flat))(*flat) if flat else None
    return (token.encode("utf-8"), int(expiry * 1000), principal.encode("utf-8"), ext,
            len(flat))


def set_token(fn, target, token, expiry, principal=None, extensions=None):
    """Calls `fn` (a `kc_*oauthbearer_set_token`) on `target`; raises KafkaException
    with the library's detail when it refuses the token."""
    err = fn(target, *token_args(token, expiry, principal, extensions))
    if err:
        raise error_from(err)


def set_token_failure(fn, target, errstr):
    """Calls `fn` (a `kc_*oauthbearer_set_token_failure`) on `target`."""
    err = fn(target, str(errstr).encode("utf-8"))
    if err:
        raise error_from(err)


class TokenRefresh:
    """The C side of a client's `oauth_cb(oauthbearer_config)`: the callable returns
    `(token, expiry)` or `(token, expiry, principal, extensions)` (expiry in seconds since
    the epoch), which is set as the client's token. Anything it raises never reaches C:
    the library is told the refresh failed (with the exception's text, so that
    connections fail with it and the callback is called again 10 s later), and the
    exception is kept in `errors` for the client's next poll, flush or consume."""

    def __init__(self, callback, errors):
        if not callable(callback):
            raise TypeError("oauth_cb must be callable")
        self._callback = callback
        self._errors = errors
        self.background = False
        self.calls = 0

        def refresh(ob, config, _opaque):
            try:
                self._serve(ob, config)
            except BaseException as e:  # C must not see it
                self._keep(e)

        self.thunk = F.kc_oauthbearer_token_refresh_cb_t(refresh)

    def _keep(self, exc):
        if self.background:
            self._errors.keep_shared(exc)
        else:
            self._errors.keep(exc)

    def _serve(self, ob, config):
        self.calls += 1
        try:
            got = self._callback(config.decode("utf-8", "replace") if config else "")
            if not isinstance(got, tuple) or len(got) not in (2, 4):
                raise TypeError("oauth_cb must return (token, expiry) or (token, expiry, "
                                f"principal, extensions), not {got!r:.80}")
            set_token(F.kc_oauthbearer_set_token, ob, *got)
        except BaseException as e:
            why = f"oauth_cb failed: {type(e).__name__}: {e}"
            F.kc_oauthbearer_set_token_failure(ob, why.encode("utf-8", "replace"))
            raise

    def enable_background(self, fn, handle, client):
        """Runs the callback on the client's background thread from now on
        (`fn` is `kc_*_sasl_background_callbacks_enable`)."""
        self.background = True
        err = fn(handle)
        if err:
            self.background = False
            raise error_from(err)
        with _kept_lock:
            _kept_thunks.append(self.thunk)
        _background_clients.add(client)

