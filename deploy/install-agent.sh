#!/bin/sh
# Install the edgeprune agent by hand on one device, without the collector: a venv (default
# ~/.edgeprune/venv, where `collector deploy` puts it too) with edgeprune[agent] (the light
# agent: onnxruntime, no torch) or edgeprune[full] (torch: builds and measures), from a built
# wheel or a source checkout. Safe to run again: an existing venv is reused and updated.
# `deploy/install-agent.sh --help` explains the options; deploy/README.md has notes per device.
set -eu

PROG=${0##*/}
# shared/version.py: the light agent (--extras agent) runs on 3.8 (JetPack 5's Python), the
# full agent needs 3.11; set once the extras are known
MIN_PYTHON_LIGHT=3.8
MIN_PYTHON_FULL=3.11

usage() {
    cat <<EOF
usage: $PROG [--wheel FILE | --source DIR] [--extras agent|full] [--venv DIR]
             [--python PYTHON] [--onnxruntime REQ] [--pip-args 'ARGS'] [-- PIP_ARG...]

Install the edgeprune agent into a venv on this device (no collector, no SSH).

what to install (one of; default: the source checkout this script belongs to):
  --wheel FILE      a wheel built elsewhere, e.g. edgeprune-0.1.0-py3-none-any.whl
                    (on a build machine: python -m pip wheel --no-deps -w DIR CHECKOUT)
  --source DIR      a source checkout of edgeprune (the folder holding pyproject.toml)

options:
  --extras NAME     agent: the light agent (onnxruntime, no torch), measures prebuilt
                    artifacts (agent run --artifacts DIR);
                    full: torch, Torch-Pruning, the ONNX exporter and onnxruntime, builds
                    and measures (default: full, as in a collector inventory)
  --venv DIR        the venv to make or update (default: ~/.edgeprune/venv, where
                    the collector puts it too: <workdir>/venv)
  --python PYTHON   the interpreter that makes the venv (default: python3): $MIN_PYTHON_LIGHT or
                    newer for --extras agent, $MIN_PYTHON_FULL or newer for full,
                    with its venv module (Debian/Ubuntu: apt install python3-venv)
  --onnxruntime REQ with --extras agent: this onnxruntime build in place of PyPI's CPU one,
                    e.g. onnxruntime-gpu (x86 with CUDA) or the path of a Jetson wheel; the
                    same module, so PyPI's onnxruntime is removed where it is installed
  --pip-args ARGS   extra arguments for pip, split at spaces, e.g.
                    '--index-url https://pypi.example/simple' or, offline,
                    '--no-index --find-links /media/usb/wheelhouse'
  -- PIP_ARG...     everything after -- goes to pip as it is (for arguments with spaces)
  -h, --help        this help

Running it again reuses the venv and installs the given build over the one there; the
dependencies are only updated where the new build needs it.

examples:
  $PROG --wheel ./edgeprune-0.1.0-py3-none-any.whl --extras agent
  $PROG --source ~/edgeprune --extras full --python python3.11
  $PROG --wheel edgeprune-0.1.0-py3-none-any.whl --extras agent --onnxruntime onnxruntime-gpu
  $PROG --wheel edgeprune-0.1.0-py3-none-any.whl --extras agent -- --no-index --find-links /mnt/wheels
EOF
}

die() {
    printf '%s: %s\n' "$PROG" "$*" >&2
    exit 1
}

usage_error() {
    printf '%s: %s (see --help)\n' "$PROG" "$*" >&2
    exit 2
}

say() {
    printf '%s\n' "$*"
}

need_value() {
    # $1: the option, $2: how many arguments are left (counting the option)
    [ "$2" -ge 2 ] || usage_error "$1 needs a value"
}

wheel=
source_dir=
extras=full
venv=
python=python3
pip_args=
onnxruntime=

while [ "$#" -gt 0 ]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --wheel) need_value "$1" "$#"; wheel=$2; shift 2 ;;
        --wheel=*) wheel=${1#*=}; shift ;;
        --source) need_value "$1" "$#"; source_dir=$2; shift 2 ;;
        --source=*) source_dir=${1#*=}; shift ;;
        --extras) need_value "$1" "$#"; extras=$2; shift 2 ;;
        --extras=*) extras=${1#*=}; shift ;;
        --venv) need_value "$1" "$#"; venv=$2; shift 2 ;;
        --venv=*) venv=${1#*=}; shift ;;
        --python) need_value "$1" "$#"; python=$2; shift 2 ;;
        --python=*) python=${1#*=}; shift ;;
        --onnxruntime) need_value "$1" "$#"; onnxruntime=$2; shift 2 ;;
        --onnxruntime=*) onnxruntime=${1#*=}; shift ;;
        --pip-args) need_value "$1" "$#"; pip_args=$2; shift 2 ;;
        --pip-args=*) pip_args=${1#*=}; shift ;;
        --) shift; break ;;
        *) usage_error "unknown argument: $1" ;;
    esac
done
# what is left in "$@" goes to pip verbatim

case "$extras" in
    agent|full) ;;
    *) usage_error "--extras must be agent (the light agent) or full, not '$extras'" ;;
esac
if [ -n "$onnxruntime" ] && [ "$extras" != agent ]; then
    usage_error "--onnxruntime goes with --extras agent (full installs PyPI's onnxruntime beside torch)"
fi

case "$venv" in
    ""|"~"|"~/"*) [ -n "${HOME:-}" ] || die "HOME is not set: give --venv DIR" ;;
esac
case "$venv" in
    "") venv="$HOME/.edgeprune/venv" ;;
    "~") venv=$HOME ;;
    "~/"*) venv="$HOME/${venv#"~/"}" ;;
esac
case "$venv" in
    /*) ;;
    *) venv="$(pwd)/$venv" ;;
esac

# what to install: a wheel, or a source checkout (by default the one this script is in)
if [ -n "$wheel" ] && [ -n "$source_dir" ]; then
    usage_error "give --wheel or --source, not both"
fi
if [ -n "$wheel" ]; then
    [ -f "$wheel" ] || die "no such wheel: $wheel"
    case "${wheel##*/}" in
        edgeprune-*.whl) ;;
        *) die "not an edgeprune wheel (edgeprune-VERSION-py3-none-any.whl): $wheel" ;;
    esac
    wheel_dir=$(cd "$(dirname "$wheel")" && pwd) || die "cannot read $wheel"
    wheel="$wheel_dir/${wheel##*/}"
else
    if [ -z "$source_dir" ]; then
        here=$(cd "$(dirname "$0")" && pwd)
        source_dir=${here%/*}
        [ -f "$source_dir/pyproject.toml" ] && [ -d "$source_dir/agent" ] ||
            die "this script is not in a source checkout: give --wheel FILE or --source DIR"
    fi
    [ -f "$source_dir/pyproject.toml" ] && [ -d "$source_dir/agent" ] && [ -d "$source_dir/shared" ] ||
        die "not an edgeprune source checkout (no pyproject.toml, agent/, shared/): $source_dir"
    source_dir=$(cd "$source_dir" && pwd)
fi

# the interpreter: new enough for the extras, with venv and ensurepip
case "$extras" in agent) MIN_PYTHON=$MIN_PYTHON_LIGHT ;; *) MIN_PYTHON=$MIN_PYTHON_FULL ;; esac
command -v "$python" >/dev/null 2>&1 || die "no such interpreter: $python (give --python PYTHON)"
check_version="import sys; sys.exit(0 if sys.version_info >= ($(echo "$MIN_PYTHON" | tr . ,)) else 1)"
found=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])') ||
    die "$python does not run"

if [ -x "$venv/bin/python" ]; then
    "$venv/bin/python" -c "$check_version" ||
        die "the venv at $venv has Python $("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); edgeprune[$extras] needs $MIN_PYTHON or newer: remove it or give another --venv"
    say "reusing the venv at $venv ($("$venv/bin/python" --version 2>&1); --python only makes a new one)"
    if ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        # left without pip: python -m venv stopped at ensurepip (no python3-venv on Debian/Ubuntu)
        say "the venv has no pip: adding it with ensurepip"
        "$venv/bin/python" -m ensurepip --upgrade --default-pip >/dev/null ||
            die "the venv at $venv has no pip and ensurepip failed (Debian/Ubuntu: sudo apt install python3-venv)"
    fi
else
    "$python" -c "$check_version" ||
        die "$python is Python $found; edgeprune[$extras] needs $MIN_PYTHON or newer (give --python PYTHON$([ "$extras" = agent ] || echo ", or --extras agent: the light agent runs on $MIN_PYTHON_LIGHT"))"
    "$python" -c 'import venv, ensurepip' 2>/dev/null ||
        die "$python lacks the venv module or ensurepip (Debian/Ubuntu: sudo apt install python3-venv, or python$(echo "$found" | cut -d. -f1,2)-venv)"
    if [ -e "$venv" ] && [ -n "$(ls -A "$venv" 2>/dev/null)" ]; then
        die "$venv exists and is not a venv (no bin/python): remove it or give another --venv"
    fi
    say "making a venv at $venv with $python (Python $found)"
    mkdir -p "$(dirname "$venv")"
    "$python" -m venv "$venv" && [ -x "$venv/bin/python" ] || die "making the venv at $venv failed"
fi
vpy="$venv/bin/python"

pip() {
    "$vpy" -m pip --disable-pip-version-check "$@"
}

tmp=
cleanup() {
    [ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$wheel" ]; then
    # build the wheel first (into a temporary folder), so that a checkout and a wheel are
    # installed the same way below
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgeprune-install.XXXXXX")
    say "building the wheel of $source_dir"
    set -f  # no globbing while --pip-args is split
    # shellcheck disable=SC2086
    pip wheel --quiet --no-deps -w "$tmp" $pip_args "$@" "$source_dir" || die "building the wheel failed"
    set +f
    for w in "$tmp"/edgeprune-*.whl; do
        wheel=$w
    done
    [ -f "$wheel" ] || die "building the wheel gave no edgeprune-*.whl"
fi

set -f
if [ -z "$onnxruntime" ]; then
    say "installing ${wheel##*/} [$extras] into $venv"
    # shellcheck disable=SC2086
    pip install --quiet $pip_args "$@" "$wheel[$extras]" || die "pip install of edgeprune[$extras] failed"
else
    # the agent's own dependencies, and the given onnxruntime in place of the extra's: PyPI's
    # onnxruntime provides the same module, so where it is installed it goes, and the given
    # one is installed again over the files that removing it took away
    force=
    if pip show --quiet onnxruntime >/dev/null 2>&1; then
        say "removing PyPI's onnxruntime (the same module as $onnxruntime)"
        pip uninstall --quiet --yes onnxruntime || die "pip uninstall onnxruntime failed"
        force=--force-reinstall
    fi
    say "installing ${wheel##*/} with $onnxruntime into $venv"
    # shellcheck disable=SC2086
    pip install --quiet $force $pip_args "$@" "$wheel" "$onnxruntime" ||
        die "pip install of edgeprune and $onnxruntime failed"
fi
# the extras bring the dependencies; a forced install of the wheel alone replaces an older
# build of the same version, which pip would otherwise keep
# shellcheck disable=SC2086
pip install --quiet --force-reinstall --no-deps $pip_args "$@" "$wheel" || die "pip install of ${wheel##*/} failed"
set +f

version=$("$venv/bin/agent" --version) || die "the agent does not start: $venv/bin/agent --version failed"
providers=$("$vpy" -c 'import onnxruntime; print(", ".join(onnxruntime.get_available_providers()))' 2>/dev/null) ||
    die "onnxruntime does not import in $venv"
say ""
say "$version installed in $venv (extras: $extras)"
say "onnxruntime execution providers: $providers"
say ""
say "next:"
say "  $venv/bin/agent info                     # this device's fingerprint and device class"
if [ "$extras" = agent ]; then
    say "  $venv/bin/agent run --artifacts DIR --sweep SWEEP.yml --out results/NAME"
    say "      # measure prebuilt artifacts (made on a machine with the full install: agent build"
    say "      # --sweep SWEEP.yml --out DIR); or let the collector push them: collector run --artifacts DIR"
else
    say "  $venv/bin/agent run --sweep SWEEP.yml --out results/NAME   # build and measure"
fi
