# bash completion for gpioirqctl (gpioirqd's control client)         -*- shell-script -*-
#
# Installed as share/bash-completion/completions/gpioirqctl, where bash-completion loads it
# the first time gpioirqctl is completed; it uses bash-completion's helpers
# (_init_completion, _filedir). Stream names come from the running daemon through
# `gpioirqctl names` with a 1 s timeout, on the socket given earlier on the line (-s,
# --socket) or else $GPIOIRQ_SOCKET or the default; when no daemon answers, names complete
# to nothing and nothing is printed. The lists below follow `gpioirqctl --help` and each
# subcommand's --help (tests/host/completion_test.sh checks that none is missing).
# shellcheck disable=SC2207  # COMPREPLY=($(compgen ...)): words without blanks, as bash-completion does

# Stream names the daemon reports, one per line. $1: only those of this query command
# (encoders, buttons, counters, imu); empty: all. Reads words and _gpioirqctl_socket of
# the calling _gpioirqctl (bash's dynamic scope).
_gpioirqctl_names()
{
    local -a socket_args=()
    [[ -n $_gpioirqctl_socket ]] && socket_args=(--socket "$_gpioirqctl_socket")
    # The command as typed (a build tree's gpioirqctl completes from itself), ~ expanded.
    local ctl=${words[0]}
    __expand_tilde_by_ref ctl
    "$ctl" "${socket_args[@]}" --timeout 1 names ${1:+"$1"} 2>/dev/null </dev/null
}

_gpioirqctl()
{
    local cur prev words cword split
    _init_completion -s || return

    local global_opts="-s --socket -j --json -t --timeout -h --help"
    local commands="status devices encoders buttons counters imu latency monitor top reset
        set reload reopen metrics names decode"

    # Find the subcommand and what was given so far. Global options may come before or
    # after it (CLI11 fallthrough); options with a value skip that value.
    local _gpioirqctl_socket="" command="" i word
    local -a args=()
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        case $word in
            -s | --socket)
                ((i + 1 < cword)) && _gpioirqctl_socket=${words[i + 1]}
                ((i++))
                ;;
            --socket=*) _gpioirqctl_socket=${word#--socket=} ;;
            -s?*) _gpioirqctl_socket=${word#-s} ;;
            -t | --timeout | -F | --format | -n | --num-events | -i | --interval) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then
                    command=$word
                else
                    args+=("$word")
                fi
                ;;
        esac
    done
    [[ -n $_gpioirqctl_socket ]] && __expand_tilde_by_ref _gpioirqctl_socket

    case $prev in
        -s | --socket)
            _filedir
            return
            ;;
        -t | --timeout | -F | --format | -n | --num-events | -i | --interval)
            return # a number or a format: nothing to offer
            ;;
    esac
    $split && return # --unknown=VALUE

    local command_opts=""
    case $command in
        monitor) command_opts="-F --format -n --num-events" ;;
        top) command_opts="-i --interval" ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$global_opts $command_opts" -- "$cur"))
        return
    fi

    local names=""
    case $command in
        "")
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
            ;;
        status | devices | latency | monitor | reset)
            names=$(_gpioirqctl_names "")
            ;;
        encoders | buttons | counters | imu)
            names=$(_gpioirqctl_names "$command")
            ;;
        set)
            # set NAME VALUE: one name (every device; the daemon says which can be set),
            # then a number, which is the user's to type.
            ((${#args[@]} == 0)) && names=$(_gpioirqctl_names "")
            ;;
        names)
            ((${#args[@]} == 0)) &&
                COMPREPLY=($(compgen -W "encoders buttons counters imu" -- "$cur"))
            ;;
        decode)
            ((${#args[@]} == 0)) && _filedir
            ;;
    esac
    if [[ -n $names ]]; then
        # Names already on the line are not offered again.
        local name
        for name in "${args[@]}"; do
            names=$(grep -vxF -e "$name" <<<"$names")
        done
        local IFS=$'\n'
        COMPREPLY=($(compgen -W "$names" -- "$cur"))
    fi
} &&
    complete -F _gpioirqctl gpioirqctl

# ex: filetype=sh
