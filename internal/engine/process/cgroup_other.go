//go:build !linux

package process

import "errors"

type cgroupParent struct{}

type cgroup struct{}

func openCgroupParent(setting string) (*cgroupParent, error) {
	if setting == "" || setting == CgroupOff {
		return nil, nil
	}
	return nil, errors.New("cgroups need Linux")
}

func (p *cgroupParent) create(string, uint64) (*cgroup, error) {
	return nil, errors.New("cgroups need Linux")
}

func (c *cgroup) kill()           {}
func (c *cgroup) oomKilled() bool { return false }
func (c *cgroup) remove()         {}
