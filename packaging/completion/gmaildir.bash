# bash completion for gmaildir                                  -*- sh -*-
#
# Install as /usr/share/bash-completion/completions/gmaildir (loaded on
# demand by bash-completion), or source it from ~/.bashrc.
#
# Completes commands, global options, each command's options, and account
# names read from the config file (the -c/--config one on the command line,
# else $XDG_CONFIG_HOME/gmaildir/config.yaml) without running gmaildir: a
# password_command is never run by pressing TAB.

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
		[ "$prev" = init ] && COMPREPLY=($(compgen -W "gmail" -- "$cur"))
		return
		;;
	*) return ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	if [ -n "$accounts" ]; then
		local IFS=$'\n'
		COMPREPLY=($(compgen -W "$(_gmaildir_accounts "$config")" -- "$cur"))
	fi
}

complete -F _gmaildir gmaildir
