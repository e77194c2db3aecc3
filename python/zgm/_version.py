#  The version of include/zgm.h this module is written for (ZGM_VERSION_MAJOR, _MINOR,
#  _PATCH); python/tests/test_zgm.py checks that they agree.
"""The module's version: the C API's (include/zgm.h)."""

version_info = (0, 2, 0)
__version__ = "%d.%d.%d" % version_info
