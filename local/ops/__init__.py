"""The operators' commands of `tasktrail` (history, list, redrive, ui), for the local stack or a deployed one."""
