
#compdef xiot

_xiot_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _XIOT_COMPLETE=complete_zsh xiot)
}

compdef _xiot_completion xiot

