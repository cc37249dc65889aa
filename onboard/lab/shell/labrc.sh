# Start-up file of every shell on a lab instance (bash --rcfile). See onboard/lab/shell/__init__.py.
PS1="${ONBOARD_LAB_PS1:-sh-4.2\$ }"
unset ONBOARD_LAB_PS1 PROMPT_COMMAND
HISTFILE="$HOME/.bash_history"
bind 'set enable-bracketed-paste off' 2>/dev/null
