# bash completion for gmaildir                                  -*- sh -*-
#
# Install as /usr/share/bash-completion/completions/gmaildir (loaded on
# demand by bash-completion), or source it from ~/.bashrc.
#
# Completes commands, global options, each command's options, and account
# names read from the config file (the -c/--config one on the command line,
# else $XDG_CONFIG_HOME/gmaildir/config.yaml) without running gmaildir: a
# password_command is never run by pressing TAB. For sync and status,
# ACCOUNT/FOLDER is completed from `gmaildir status --json ACCOUNT`, which
# reads the local state only (no connection, no password), so it is quick;
# its errors are dropped.

# _gmaildir_accounts FILE: the "- name: X" entries of the accounts list.
_gmaildir_accounts()
{
	[ -r "$1" ] || return 0
	awk '
		/^[ \t]*-[ \t]*name:[ \t]*/ {
			v = $0
			sub(/^[ \t]*-[ \t]*name:[ \t]*/, "", v)
			sub(/[ \t]+#.*$/, "", v)
			sub(/[ \t]+$/, "", v)
			if (v ~ /^".*"$/ || v ~ /^'\''.*'\''$/)
				v = substr(v, 2, length(v) - 2)
			if (v != "")
				print v
		}' "$1" 2>/dev/null
}

# _gmaildir_folders CONFIG ACCOUNT: "ACCOUNT/FOLDER" for each folder of the
# account's state. Names with a double quote or a backslash are skipped.
_gmaildir_folders()
{
	local bin=${COMP_WORDS[0]}
	[ -r "$1" ] || return 0
	command -v "$bin" >/dev/null 2>&1 || bin=gmaildir
	timeout 3 "$bin" -q -c "$1" status --json "$2" 2>/dev/null |
		grep -o '{"name":"[^"\\]*","remote"' |
		sed 's/^{"name":"//; s/","remote"$//; s|^|'"$2"'/|'
}

_gmaildir()
{
	local cur prev words cword
	if declare -F _init_completion >/dev/null; then
		_init_completion -n = || return
	else
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	fi

	local commands="sync daemon send login status doctor init list check-config"
	local globals="-c --config -v -q -h --help --version"
	local config=${XDG_CONFIG_HOME:-$HOME/.config}/gmaildir/config.yaml
	local cmd="" i w

	# Find the config file and the command (the first word that is not an
	# option or an option's argument).
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		case $w in
		-c | --config)
			i=$((i + 1))
			# Without bash-completion, "--config=F" arrives split at "=".
			[ "${words[i]}" = "=" ] && i=$((i + 1))
			[ $i -lt $cword ] && config=${words[i]/#\~/$HOME}
			;;
		--config=*) config=${w#--config=} config=${config/#\~/$HOME} ;;
		-*) ;;
		*)
			cmd=$w
			break
			;;
		esac
	done

	case $prev in
	-c | --config)
		COMPREPLY=($(compgen -f -- "$cur"))
		compopt -o filenames 2>/dev/null
		return
		;;
	esac

	if [ -z "$cmd" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$globals" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return
	fi

	local opts="" accounts=yes
	case $cmd in
	sync) opts="--dry-run -n --allow-mass-delete --allow-unmatched --wait=" ;;
	status) opts="--json" ;;
	send) opts="--flush -t -i -f -F -a --account" ;;
	login) opts="--no-browser --port --timeout" ;;
	daemon | doctor | list) ;;
	init)
		accounts=
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--host --port --user" -- "$cur"))
		elif [ "$prev" = init ]; then
			COMPREPLY=($(compgen -W "gmail imap" -- "$cur"))
		fi
		return
		;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	local IFS=$'\n'
	if [[ $cur == */* && ($cmd == sync || $cmd == status) ]]; then
		COMPREPLY=($(compgen -W "$(_gmaildir_folders "$config" "${cur%%/*}")" -- "$cur"))
		# A name with a space stays one word.
		COMPREPLY=("${COMPREPLY[@]// /\\ }")
	elif [ -n "$accounts" ]; then
		COMPREPLY=($(compgen -W "$(_gmaildir_accounts "$config")" -- "$cur"))
	fi
}

complete -F _gmaildir gmaildir
