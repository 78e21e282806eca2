package node

import (
	"strings"
	"testing"
	"time"

	"github.com/murmurnet/murmur/crdt"
)

// An organisation may not join under a member's name, whatever its case
// and spacing; nothing is admitted.
func TestJoinRefusesAMembersName(t *testing.T) {
	f, fr := founded(t, 1)
	b := join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), "Beta Collective", "")
	eventually(t, 20*time.Second, "the founder knows Beta", func() bool {
		o, err := f.ResolveMember(b.Org().String())
		return err == nil && o.Admitted
	})
	before := f.Status()
	for _, name := range []string{"FOUNDERS", "beta  collective"} {
		join(t, t.TempDir(), newInvite(t, f, fr, crdt.InviteOrganisation, time.Hour), name, "is a member already")
	}
	after := f.Status()
	if after.Members != before.Members || after.PendingOrgs != 0 {
		t.Fatalf("a refused name changed the membership: %+v -> %+v", before, after)
	}
	f.mu.Lock()
	err := f.takenName("Founders ", crdt.OrgID{})
	f.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), `"Founders" is a member already`) {
		t.Fatal("the founders' name is not taken")
	}
}
