"""One SoftHSM 2 token per test process, shared by every PKCS#11 test module.

python-pkcs11 loads and initialises the PKCS#11 library once per process, and SoftHSM reads its configuration
(SOFTHSM2_CONF: the token directory) at that moment: a second module pointing SOFTHSM2_CONF at another directory
later would not be seen. So the configuration is set once, for the whole process, and each module puts its
objects (with its own labels) on the same token.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

SOFTHSM_LIBS = ("/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so", "/usr/local/lib/softhsm/libsofthsm2.so")
SOFTHSM_LIB = next((p for p in SOFTHSM_LIBS if Path(p).exists()), "")
SOFTHSM_UTIL = shutil.which("softhsm2-util")
SKIP_REASON = "SoftHSM 2 absent (Debian: apt-get install softhsm2) — PKCS#11 not tested"

TOKEN = "dcc-test"
PIN = "123456"
SO_PIN = "12345678"


@cache
def softhsm_token() -> str:
    """Create (once per process) the token TOKEN with PIN in a temporary SoftHSM store; returns its label."""
    assert SOFTHSM_LIB and SOFTHSM_UTIL, SKIP_REASON
    base = Path(tempfile.mkdtemp(prefix="dcc-softhsm-"))
    atexit.register(shutil.rmtree, base, True)
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n",
                    encoding="utf-8")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # for the whole process (see the module's docstring)
    subprocess.run([SOFTHSM_UTIL, "--init-token", "--free", "--label", TOKEN, "--so-pin", SO_PIN, "--pin", PIN],
                   check=True, capture_output=True, env=os.environ)
    return TOKEN
