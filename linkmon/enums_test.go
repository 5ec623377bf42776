package linkmon

import (
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/netpulse/netpulse"
	"github.com/stretchr/testify/require"
)

// TestEnumWords: the enums print and marshal as the words the records use,
// and refuse to marshal a value they do not know.
func TestEnumWords(t *testing.T) {
	b, err := json.Marshal(Detail{Read: true, LinkDetected: TristateYes, Duplex: DuplexFull, Autoneg: TristateNo})
	require.NoError(t, err)
	require.JSONEq(t, `{"Read":true,"Supported":false,"LinkDetected":"yes","SpeedMbps":0,"Duplex":"full","Autoneg":"no"}`, string(b))
	for o, w := range map[OperState]string{OperStateUnknown: "unknown", OperStateNotPresent: "notpresent",
		OperStateDown: "down", OperStateLowerLayerDown: "lowerlayerdown", OperStateTesting: "testing",
		OperStateDormant: "dormant", OperStateUp: "up"} {
		require.Equal(t, w, o.String())
		b, err := o.MarshalText()
		require.NoError(t, err)
		require.Equal(t, w, string(b))
	}
	require.Equal(t, "unknown", TristateUnknown.String())
	require.Equal(t, "half", DuplexHalf.String())
	require.Equal(t, "Tristate(9)", Tristate(9).String())
	_, err = Tristate(9).MarshalText()
	require.Error(t, err)
	_, err = OperState(42).MarshalText()
	require.Error(t, err)
}

// TestStateVocabulary: a link's identity and link-level state in netpulse's
// words.
func TestStateVocabulary(t *testing.T) {
	up := State{Index: 3, Name: "eth2", Present: true, AdminUp: true, Carrier: true}
	require.Equal(t, netpulse.Interface{Index: 3, Name: "eth2"}, up.Interface())
	require.Equal(t, netpulse.StateUp, up.Link())
	lost := up
	lost.Carrier = false
	require.Equal(t, netpulse.StateDown, lost.Link())
	admin := up
	admin.AdminUp = false
	require.Equal(t, netpulse.StateDown, admin.Link())
	gone := up
	gone.Present = false
	require.Equal(t, netpulse.Interface{Name: "eth2"}, gone.Interface(), "a link that is gone has no index")
	require.Equal(t, netpulse.StateDown, gone.Link())
}

// TestSelectionNameAuthoritative: a selector with a name selects by name,
// whatever its index says; one with only an index selects that index.
func TestSelectionNameAuthoritative(t *testing.T) {
	c := newCore(testConfig(t, Config{Interfaces: []netpulse.Interface{{Index: 99, Name: "eth2"}, {Index: 7}}}))
	require.True(t, c.selected(2, []byte("eth2")))
	require.False(t, c.selected(99, []byte("eth9")), "the stale index of a named selector selects nothing")
	require.True(t, c.selected(7, []byte("anything")))
	require.False(t, c.selected(8, []byte("eth3")))
}

// TestSnapshotTime: a snapshot says when it was taken, as ipmon's, route's
// and failover's do.
func TestSnapshotTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newCore(testConfig(t, Config{}))
		time.Sleep(time.Minute)
		require.Equal(t, time.Now(), c.snapshot().Time)
	})
}
