package config

import "testing"

func TestSnapshotStandbyFromEnv(t *testing.T) {
	if !Default().SnapshotStandby {
		t.Fatal("standby instances are off by default")
	}
	c, err := Default().FromEnv([]string{"GUREUM_SNAPSHOT_STANDBY=false"})
	if err != nil || c.SnapshotStandby {
		t.Fatalf("GUREUM_SNAPSHOT_STANDBY=false: %v, standby %v", err, c.SnapshotStandby)
	}
	if _, err := Default().FromEnv([]string{"GUREUM_SNAPSHOT_STANDBY=maybe"}); err == nil {
		t.Fatal("GUREUM_SNAPSHOT_STANDBY=maybe accepted")
	}
}
