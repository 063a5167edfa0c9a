package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"google.golang.org/protobuf/proto"

	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// alertKey is b/<month>/<team>/<percent>: alerts sort by month, team and
// threshold (the percent as three digits).
func alertKey(month, team string, percent uint32) []byte {
	return fmt.Appendf(append([]byte{}, prefixAlert...), "%s/%s/%03d", month, team, percent)
}

func overrideKey(team string) []byte {
	return append(append([]byte{}, prefixOverride...), team...)
}

// PutAlert stores a budget alert, replacing the one of the same team, month
// and threshold (to record its delivery).
func (s *Store) PutAlert(a *gpuqv1.BudgetAlertEvent) error {
	if a.GetTeam() == "" || a.GetMonth() == "" {
		return errors.New("store budget alert: team and month are required")
	}
	return s.Update(func(tx *Tx) error {
		return tx.putProto(alertKey(a.Month, a.Team, a.Percent), a)
	})
}

// Alerts calls fn for every stored budget alert, by month, team and
// threshold.
func (s *Store) Alerts(fn func(*gpuqv1.BudgetAlertEvent) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		return scan(txn, prefixAlert, func(k, v []byte) error {
			a := &gpuqv1.BudgetAlertEvent{}
			if err := proto.Unmarshal(v, a); err != nil {
				return fmt.Errorf("decode budget alert %q: %w", k, err)
			}
			return fn(a)
		})
	})
}

// PutBudgetOverride stores an operator's budget for a team.
func (s *Store) PutBudgetOverride(o *gpuqv1.BudgetOverride) error {
	if o.GetTeam() == "" {
		return errors.New("store budget override: team is required")
	}
	return s.Update(func(tx *Tx) error { return tx.putProto(overrideKey(o.Team), o) })
}

// DeleteBudgetOverride removes an operator's budget for a team; removing
// one that is not there is no error.
func (s *Store) DeleteBudgetOverride(team string) error {
	return s.Update(func(tx *Tx) error {
		if err := tx.txn.Delete(overrideKey(team)); err != nil {
			return fmt.Errorf("delete budget override of %q: %w", team, err)
		}
		return nil
	})
}

// BudgetOverrides returns the operators' budgets by team.
func (s *Store) BudgetOverrides() (map[string]*gpuqv1.BudgetOverride, error) {
	out := map[string]*gpuqv1.BudgetOverride{}
	err := s.db.View(func(txn *badger.Txn) error {
		return scan(txn, prefixOverride, func(k, v []byte) error {
			o := &gpuqv1.BudgetOverride{}
			if err := proto.Unmarshal(v, o); err != nil {
				return fmt.Errorf("decode budget override %q: %w", k, err)
			}
			out[string(k[len(prefixOverride):])] = o
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read budget overrides: %w", err)
	}
	return out, nil
}
