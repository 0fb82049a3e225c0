package procattr

import "syscall"

const parentDeathSignal = true

func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
