"""Build of enec's native CPU library (plain C ABI, loaded with ctypes).

No torch and no Python headers are needed to build it, so pip's build isolation is safe.
ENEC_SANITIZE=address,undefined builds it with sanitizers (CI's sanitizer run).
"""
import glob
import os

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

sanitize = os.environ.get("ENEC_SANITIZE", "")
cflags = ["-std=c++17", "-O3", "-Wall"]
# Portable by default (wheels move between machines); ENEC_NATIVE_ARCH=native (or x86-64-v3, ...)
# tunes the build for one machine.
if os.environ.get("ENEC_NATIVE_ARCH"):
    cflags.append("-march=" + os.environ["ENEC_NATIVE_ARCH"])
ldflags = ["-pthread"]
if sanitize:
    cflags = ["-std=c++17", "-O1", "-Wall", "-g", "-fno-omit-frame-pointer", f"-fsanitize={sanitize}",
              "-fno-sanitize-recover=all"]
    ldflags += [f"-fsanitize={sanitize}"]


NO_COMPILER = """
enec could not compile its native codec ({name}): {error}
enec needs a C++17 compiler (GCC >= 8 or Clang >= 7) to install: for example
    apt-get install g++          (Debian, Ubuntu)
    dnf install gcc-c++          (Fedora, RHEL)
    xcode-select --install       (macOS)
then run pip install again. (CXX=... selects another compiler.)
"""


class BuildPlainLibrary(build_ext):
    """The library has no PyInit_ function: it is a C library, not a Python module."""

    def get_export_symbols(self, ext):
        return []

    def build_extension(self, ext):
        # without a compiler setuptools only says "Failed building wheel"; say what is missing
        from setuptools.errors import CompileError, ExecError, LinkError
        try:
            super().build_extension(ext)
        except (CompileError, ExecError, LinkError, OSError) as e:
            raise SystemExit(NO_COMPILER.format(name=ext.name, error=e)) from None


setup(
    ext_modules=[Extension("enec._enec_native", ["python/enec/csrc/enec_native.cpp",
                                                 # the C++ layout, header and parameter search
                                                 "op_host/enec_host.cpp"],
                           # its headers, by role and instruction set (rebuild on change; in the sdist)
                           depends=sorted(glob.glob("python/enec/csrc/enec_native/*"))
                           + ["python/enec/csrc/popcount.h", "op_host/enec_host.h", "op_kernel/enec_tiling.h",
                                                    "op_kernel/enec_search.h"],
                           extra_compile_args=cflags, extra_link_args=ldflags, language="c++"),
                 # QLC / APack kernels (codecs 2, 3), loaded by enec.codecs.native
                 Extension("enec._enec_codecs", ["python/enec/csrc/codecs_native.cpp"],
                           depends=["python/enec/csrc/popcount.h"],
                           extra_compile_args=cflags, extra_link_args=ldflags, language="c++"),
                 # entropy codec kernels (codec 5), loaded by enec.codecs.entropy_native
                 Extension("enec._enec_entropy", ["python/enec/csrc/entropy_native.cpp"],
                           # the kernel levels and the kept worker threads, shared with _enec_native
                           depends=["python/enec/csrc/enec_native/simd_level.h",
                                    "python/enec/csrc/enec_native/thread_pool.h"],
                           extra_compile_args=cflags, extra_link_args=ldflags, language="c++")],
    cmdclass={"build_ext": BuildPlainLibrary},
)
