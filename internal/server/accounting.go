package server

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/gpuq/gpuq/internal/accounting"
	"github.com/gpuq/gpuq/internal/auth"
	"github.com/gpuq/gpuq/internal/job"
	"github.com/gpuq/gpuq/internal/money"
	"github.com/gpuq/gpuq/internal/queue"
	gpuqv1 "github.com/gpuq/gpuq/proto/gpuq/v1"
)

// Records is what the AccountingService needs of the store: it calls fn for
// the record of every run that ended in [from, to), in order of end time; a
// zero to means no upper bound. fn owns the record it is given and may
// change it.
type Records interface {
	Records(from, to time.Time, fn func(*gpuqv1.RunRecord) error) error
}

var _ Records = (*queue.Queue)(nil)

// JobRecords is a source of records that finds those of one job without a
// scan (the store's job-id index): it calls fn for every record of job id,
// or of its task when task is set. ListRecords uses it when the request
// names jobs and the source has it.
type JobRecords interface {
	JobRecords(id uint64, task *uint32, fn func(*gpuqv1.RunRecord) error) error
}

var _ JobRecords = (*queue.Queue)(nil)

// RecordsPageSize is the most records one ListRecordsResponse carries.
const RecordsPageSize = 1000

// AccountingOptions configures an AccountingService.
type AccountingOptions struct {
	// Pricing holds the teams' rates, budgets, shares and zones and the
	// pools' prices, from the config.
	Pricing accounting.Pricing
	// Now is the clock of Budgets; nil means time.Now.
	Now func() time.Time
	// Parallel is how many parts the reports of usage and cost cut their
	// scans into, scanned at once (default: GOMAXPROCS, at most 8).
	Parallel int
	// Budget is gpuqd's budget watcher: the operators' budgets, the hard
	// limit and the alerts raised. nil: the budgets of Pricing, no alerts,
	// and SetBudget fails.
	Budget BudgetWatcher
	// PageCodec is whether the gRPC server sends with Codec: ListRecords
	// then sends the pages it encodes as they are.
	PageCodec bool
}

// BudgetWatcher is what the AccountingService needs of gpuqd's budget
// watcher (internal/budget).
type BudgetWatcher interface {
	// Pricing is the config's pricing with the operators' budgets.
	Pricing() accounting.Pricing
	HardLimit() bool
	SetByOperator(team string) bool
	// Alerts lists the alerts raised for teams (all when empty) in month
	// (all when "").
	Alerts(teams []string, month string) []*gpuqv1.BudgetAlertEvent
	// SetBudget sets or clears a team's budget; it returns the team's
	// budget now and how many jobs it released. Bad input is a
	// *job.FieldError.
	SetBudget(team string, amount money.Amount, clear bool) (accounting.Budget, int, error)
}

// AccountingService implements gpuqv1.AccountingServiceServer over a
// source of records.
type AccountingService struct {
	gpuqv1.UnimplementedAccountingServiceServer
	src  Records
	opts AccountingOptions
}

// NewAccountingService serves the records of src, priced by opts.Pricing.
func NewAccountingService(src Records, opts AccountingOptions) *AccountingService {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Parallel <= 0 {
		opts.Parallel = min(runtime.GOMAXPROCS(0), 8)
	}
	return &AccountingService{src: src, opts: opts}
}

// Runs is a source of records that can decode only their runs, cut into
// parts scanned at once, and tell the longest run it holds (the store has
// all of it): the reports of usage and cost read runs when the source has
// them, and every scan of a period stops the longest run after its end.
type Runs interface {
	// RunsParallel calls fn(part, r) for the run of every record that
	// ended in [from, to), the span cut into parts scanned at once; fn is
	// called concurrently for different parts. A zero to means no bound.
	RunsParallel(from, to time.Time, parts int, fn func(part int, r *accounting.Run) error) error
	MaxRun() time.Duration
}

var _ Runs = (*queue.Queue)(nil)

// until is where a scan for the runs that overlap r may stop: a run that
// overlaps r ended before r's end plus the longest run. Zero, no bound,
// when r has no end or the source does not know its longest run.
func (s *AccountingService) until(r accounting.Range) time.Time {
	src, ok := s.src.(Runs)
	if !ok || r.End.IsZero() {
		return time.Time{}
	}
	return r.End.Add(src.MaxRun() + 1)
}

// scan calls fn for every record whose run overlaps r. A run that ends
// after r can overlap it, so the scan runs from r's start to the end of
// the records, or the longest run past r's end; it stops early when ctx
// ends.
func (s *AccountingService) scan(ctx context.Context, r accounting.Range, fn func(*gpuqv1.RunRecord) error) error {
	n := 0
	return s.src.Records(r.Start, s.until(r), func(rec *gpuqv1.RunRecord) error {
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if !accounting.Overlaps(rec, r) {
			return nil
		}
		return fn(rec)
	})
}

// parts is how many parts scanRuns cuts a scan into.
func (s *AccountingService) parts() int {
	if _, ok := s.src.(Runs); !ok {
		return 1
	}
	return s.opts.Parallel
}

// scanRuns is scan for the runs of the records: decoded alone, and in
// s.parts() parts at once, when the source can, which is several times
// faster. fn(part, run) is called concurrently for different parts, never
// for one; part is below s.parts(). fn must not keep the run.
func (s *AccountingService) scanRuns(ctx context.Context, r accounting.Range, fn func(part int, run *accounting.Run)) error {
	src, ok := s.src.(Runs)
	if !ok {
		return s.scan(ctx, r, func(rec *gpuqv1.RunRecord) error {
			run := accounting.RunOf(rec)
			fn(0, &run)
			return nil
		})
	}
	counts := make([]int, s.parts())
	return src.RunsParallel(r.Start, s.until(r), len(counts), func(part int, run *accounting.Run) error {
		if counts[part]++; counts[part]%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if run.Overlaps(r) {
			fn(part, run)
		}
		return nil
	})
}

// ListRecords streams the matching records in pages, each with its cost.
func (s *AccountingService) ListRecords(req *gpuqv1.ListRecordsRequest, stream gpuqv1.AccountingService_ListRecordsServer) error {
	var inv job.InvalidError
	r := timeRange(&inv, req.Start, req.End, false)
	if err := inv.Err(); err != nil {
		return err
	}
	id := auth.FromContext(stream.Context())
	if err := canListRecords(id, req); err != nil {
		return err
	}
	if src, ok := s.src.(EncodedRecords); ok && len(req.Jobs) == 0 {
		return s.listEncoded(src, req, r, id, stream)
	}
	want := recordFilter(req)
	match := func(rec *gpuqv1.RunRecord) bool {
		return want(rec) && auth.CanReadRecord(id, rec.GetTeam(), rec.GetUser())
	}
	page := make([]*gpuqv1.RunRecord, 0, RecordsPageSize)
	scan := s.scan
	if jr, ok := s.src.(JobRecords); ok && len(req.Jobs) > 0 {
		scan = func(_ context.Context, r accounting.Range, fn func(*gpuqv1.RunRecord) error) error {
			return s.jobRecords(jr, req.Jobs, r, fn)
		}
	}
	err := scan(stream.Context(), r, func(rec *gpuqv1.RunRecord) error {
		if !match(rec) {
			return nil
		}
		if rec.Cost == "" {
			if c, ok := s.opts.Pricing.RecordCost(rec); ok {
				rec.Cost = money.Amount(c.Cents() * int64(money.Cent)).String()
			}
		}
		page = append(page, rec)
		if len(page) < RecordsPageSize {
			return nil
		}
		err := stream.Send(&gpuqv1.ListRecordsResponse{Records: page})
		// The stream may still hold the page: start a new one.
		page = make([]*gpuqv1.RunRecord, 0, RecordsPageSize)
		return err
	})
	if err != nil {
		return err
	}
	if len(page) > 0 {
		return stream.Send(&gpuqv1.ListRecordsResponse{Records: page})
	}
	return nil
}

// EncodedRecords is a source of records that gives them as they are
// stored, with only what a listing filters and prices by decoded (the
// store has it): ListRecords sends their bytes on as they are, several
// times faster than decoding and encoding every record.
type EncodedRecords interface {
	// EncodedRecords calls fn for every record that ended in [from, to),
	// in order of the end, as Records does; fn must not keep e.
	EncodedRecords(from, to time.Time, fn func(e *accounting.EncodedRecord) error) error
}

var _ EncodedRecords = (*queue.Queue)(nil)

// OrderedRecords is a source of encoded records that can give them in the
// order gpuqctl acct lists them (the store has it): a listing that asks
// for that order is then written by gpuqctl as it comes, instead of kept
// whole and sorted.
type OrderedRecords interface {
	// EncodedRecordsOrdered is EncodedRecords by job id, the job before
	// its tasks, task id, run and end, when it can; ordered tells which,
	// the same for every record of a scan. It may read the span in parts
	// at once first. It keeps at most hold records at once to put them in
	// order, else gives them by end. It may leave out the records of whose
	// team and user keep, when not nil, returns false.
	EncodedRecordsOrdered(from, to time.Time, parts, hold int, keep func(team, user string) bool, fn func(e *accounting.EncodedRecord, ordered bool) error) error
}

var _ OrderedRecords = (*queue.Queue)(nil)

// OrderedHold is the most records a listing keeps at once to send them in
// order (about 300 bytes each).
const OrderedHold = 100_000

// listEncoded is ListRecords of a request that names no jobs over a source
// of encoded records. A ListRecordsResponse is its field 1, a RunRecord,
// repeated, so a page is written by hand: for each record the field's tag
// and length, the stored bytes, and its cost as a field 23 after them
// where the record has none (a field that comes again replaces the value
// before it when decoded, so the record decodes with that cost). The page
// is sent as the unknown fields of an empty response, which encodes as
// exactly those bytes. A request that asks for the listing's order gets
// it where the source can (OrderedRecords), with ordered set at the start
// of every page.
func (s *AccountingService) listEncoded(src EncodedRecords, req *gpuqv1.ListRecordsRequest, r accounting.Range, id *auth.Identity, stream gpuqv1.AccountingService_ListRecordsServer) error {
	teams, users, states := req.GetTeams(), req.GetUsers(), req.GetStates()
	emptyIDs := req.GetEmptyGpuIds()
	ctx := stream.Context()
	var (
		page []byte
		buf  *[]byte // page's buffer from pages, with Codec
	)
	if s.opts.PageCodec {
		buf = pages.Get(0)
		page = (*buf)[:0]
	}
	n, seen := 0, 0
	send := func() error {
		if s.opts.PageCodec {
			// Sent as it is; its buffer goes back to pages once written.
			*buf = page
			sent := &encodedPage{b: mem.NewBuffer(buf, pages)}
			buf = pages.Get(0)
			page, n = (*buf)[:0], 0
			return stream.SendMsg(sent)
		}
		resp := &gpuqv1.ListRecordsResponse{}
		resp.ProtoReflect().SetUnknown(page)
		// Send encodes the response before it returns, into buffers of
		// its own: the page's buffer is used again for the next.
		err := stream.Send(resp)
		page, n = page[:0], 0
		return err
	}
	var cost, amount []byte
	// wanted: a record of team and user that the listing shows and the
	// caller may read.
	wanted := func(team, user string) bool {
		return (len(teams) == 0 || slices.Contains(teams, team)) && (len(users) == 0 || slices.Contains(users, user)) &&
			auth.CanReadRecord(id, team, user)
	}
	scan := func(fn func(e *accounting.EncodedRecord, ordered bool) error) error {
		return src.EncodedRecords(r.Start, s.until(r), func(e *accounting.EncodedRecord) error { return fn(e, false) })
	}
	if o, ok := src.(OrderedRecords); ok && req.GetOrdered() {
		// The records of other teams and users than those asked for or
		// readable need not be put in order.
		var keep func(team, user string) bool
		if len(teams) > 0 || len(users) > 0 || !id.Operator() {
			keep = wanted
		}
		scan = func(fn func(e *accounting.EncodedRecord, ordered bool) error) error {
			return o.EncodedRecordsOrdered(r.Start, s.until(r), s.opts.Parallel, OrderedHold, keep, fn)
		}
	}
	err := scan(func(e *accounting.EncodedRecord, ordered bool) error {
		if seen++; seen%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		run := &e.Run
		if !run.Overlaps(r) || !wanted(run.Team, run.User) ||
			len(states) > 0 && !slices.Contains(states, e.State) {
			return nil
		}
		cost = cost[:0]
		if !e.HasCost {
			if c, ok := s.opts.Pricing.RunCost(run); ok {
				amount = money.Amount(c.Cents() * int64(money.Cent)).Append(amount[:0])
				cost = protowire.AppendTag(cost, costField, protowire.BytesType)
				cost = protowire.AppendBytes(cost, amount)
			}
		}
		if n == 0 {
			if cap(page) == 0 {
				page = make([]byte, 0, RecordsPageSize*(len(e.Bytes)+len(cost)+8))
			}
			if ordered {
				page = protowire.AppendTag(page, orderedField, protowire.VarintType)
				page = protowire.AppendVarint(page, 1)
			}
		}
		ids := e.IDs
		if !emptyIDs {
			ids = accounting.IDSpan{}
		}
		page = protowire.AppendTag(page, recordsField, protowire.BytesType)
		page = protowire.AppendVarint(page, uint64(len(e.Bytes)-(ids.To-ids.From-len(emptyID)*ids.N)+len(cost)))
		page = append(appendEmptyIDs(page, e.Bytes, ids), cost...)
		if n++; n < RecordsPageSize {
			return nil
		}
		return send()
	})
	if err != nil {
		return err
	}
	if n > 0 {
		return send()
	}
	return nil
}

// The field numbers of ListRecordsResponse.records and .ordered and of
// RunRecord.gpu_ids and .cost.
const (
	recordsField = 1
	orderedField = 2
	gpuIDsField  = 11
	costField    = 23
)

// emptyID is an empty RunRecord.gpu_ids.
var emptyID = protowire.AppendVarint(protowire.AppendTag(nil, gpuIDsField, protowire.BytesType), 0)

// appendEmptyIDs appends the RunRecord encoded in rec to b with the
// gpu_ids of ids empty; all of rec as it is where ids.N is 0.
func appendEmptyIDs(b, rec []byte, ids accounting.IDSpan) []byte {
	if ids.N == 0 {
		return append(b, rec...)
	}
	b = append(b, rec[:ids.From]...)
	for range ids.N {
		b = append(b, emptyID...)
	}
	return append(b, rec[ids.To:]...)
}

// canListRecords refuses a request that names teams or users whose records
// id may not read; what it does not name is filtered record by record.
func canListRecords(id *auth.Identity, req *gpuqv1.ListRecordsRequest) error {
	if err := auth.RequireUser(id); err != nil {
		return err
	}
	if id.Operator() {
		return nil
	}
	for _, t := range req.GetTeams() {
		if !id.Member(t) {
			return fmt.Errorf("%w: %s may not read the accounting of team %s", job.ErrPermissionDenied, id, t)
		}
	}
	for _, u := range req.GetUsers() {
		if u != id.Name && len(id.AdminOf) == 0 {
			return fmt.Errorf("%w: %s may not read the records of user %s (team admins and operators may)", job.ErrPermissionDenied, id, u)
		}
	}
	return nil
}

// jobRecords calls fn for the records of jobs whose runs overlap r, through
// the job-id index, in order of end time as a scan gives them.
func (s *AccountingService) jobRecords(src JobRecords, jobs []*gpuqv1.JobRef, r accounting.Range, fn func(*gpuqv1.RunRecord) error) error {
	var recs []*gpuqv1.RunRecord
	seen := map[string]bool{}
	for _, ref := range jobs {
		err := src.JobRecords(ref.GetId(), ref.ArrayTaskId, func(rec *gpuqv1.RunRecord) error {
			// A job named twice, or with and without its task: once.
			key := fmt.Sprintf("%s/%d", job.FromProto(rec.Job), rec.Run)
			if !seen[key] && accounting.Overlaps(rec, r) {
				seen[key] = true
				recs = append(recs, rec)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("records of job %s: %w", job.FromProto(ref), err)
		}
	}
	slices.SortStableFunc(recs, func(a, b *gpuqv1.RunRecord) int { return a.EndTime.AsTime().Compare(b.EndTime.AsTime()) })
	for _, rec := range recs {
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// recordFilter returns whether a record matches the request's teams,
// users, states and jobs.
func recordFilter(req *gpuqv1.ListRecordsRequest) func(*gpuqv1.RunRecord) bool {
	teams, users, states, jobs := req.GetTeams(), req.GetUsers(), req.GetStates(), req.GetJobs()
	return func(rec *gpuqv1.RunRecord) bool {
		if len(teams) > 0 && !slices.Contains(teams, rec.GetTeam()) ||
			len(users) > 0 && !slices.Contains(users, rec.GetUser()) ||
			len(states) > 0 && !slices.Contains(states, rec.GetState()) {
			return false
		}
		if len(jobs) == 0 {
			return true
		}
		got := rec.GetJob()
		return slices.ContainsFunc(jobs, func(want *gpuqv1.JobRef) bool {
			return want.GetId() == got.GetId() && (want.ArrayTaskId == nil || got.ArrayTaskId != nil && want.GetArrayTaskId() == got.GetArrayTaskId())
		})
	}
}

// timeRange reads a request's start and end into inv's problems; with
// required set both must be given.
func timeRange(inv *job.InvalidError, start, end *timestamppb.Timestamp, required bool) accounting.Range {
	var r accounting.Range
	for _, f := range []struct {
		name string
		ts   *timestamppb.Timestamp
		to   *time.Time
	}{{"start", start, &r.Start}, {"end", end, &r.End}} {
		switch {
		case f.ts == nil && required:
			inv.Add(f.name, "required (or set month)")
		case f.ts == nil:
		case f.ts.CheckValid() != nil:
			inv.Add(f.name, "%v", f.ts.CheckValid())
		default:
			*f.to = f.ts.AsTime()
		}
	}
	if !r.Start.IsZero() && !r.End.IsZero() && !r.Start.Before(r.End) {
		inv.Add("end", "must be after start (%s)", r.Start.Format(time.RFC3339))
	}
	return r
}

// CostReport prices the usage of a period.
func (s *AccountingService) CostReport(ctx context.Context, req *gpuqv1.CostReportRequest) (*gpuqv1.CostReportResponse, error) {
	id := auth.FromContext(ctx)
	if err := auth.RequireUser(id); err != nil {
		return nil, err
	}
	if !id.Operator() && len(id.AdminOf) == 0 {
		return nil, fmt.Errorf("%w: %s may not read cost reports (team admins read their teams', operators all)", job.ErrPermissionDenied, id)
	}
	var inv job.InvalidError
	loc, zoneErr := loadZone(req.TimeZone)
	if zoneErr != nil {
		inv.Add("time_zone", "%v", zoneErr)
	}
	var period accounting.Range
	switch {
	case req.Month != "" && (req.Start != nil || req.End != nil):
		inv.Add("month", "set month, or start and end, not both")
	case req.Month != "":
		if m, err := accounting.ParseMonth(req.Month); err != nil {
			inv.Add("month", "%v", err)
		} else if loc != nil {
			period = m.Range(loc)
		}
	default:
		period = timeRange(&inv, req.Start, req.End, true)
	}
	model := accounting.ModelChargeback
	switch req.Model {
	case gpuqv1.CostModel_COST_MODEL_UNSPECIFIED, gpuqv1.CostModel_COST_MODEL_CHARGEBACK:
	case gpuqv1.CostModel_COST_MODEL_SPLIT:
		model = accounting.ModelSplit
	default:
		inv.Add("model", "unknown model %d", req.Model)
	}
	policy := accounting.IdleProportional
	switch req.IdlePolicy {
	case gpuqv1.IdlePolicy_IDLE_POLICY_UNSPECIFIED, gpuqv1.IdlePolicy_IDLE_POLICY_PROPORTIONAL:
	case gpuqv1.IdlePolicy_IDLE_POLICY_SHARES:
		policy = accounting.IdleShares
	case gpuqv1.IdlePolicy_IDLE_POLICY_EVEN:
		policy = accounting.IdleEven
	case gpuqv1.IdlePolicy_IDLE_POLICY_PLATFORM:
		policy = accounting.IdlePlatform
	default:
		inv.Add("idle_policy", "unknown policy %d", req.IdlePolicy)
	}
	bills := map[string]money.Amount{}
	billIndex := map[string]int{}
	if len(req.Bills) > 0 && model != accounting.ModelSplit {
		inv.Add("bills", "bills are for the split model")
	}
	for i, b := range req.Bills {
		field := fmt.Sprintf("bills[%d]", i)
		a, err := money.Parse(b.GetAmount())
		switch {
		case b.GetPool() == "":
			inv.Add(field+".pool", "required")
		case hasKey(bills, b.GetPool()):
			inv.Add(field+".pool", "pool %q has a bill already", b.GetPool())
		case err != nil:
			inv.Add(field+".amount", "%v", err)
		default:
			bills[b.GetPool()], billIndex[b.GetPool()] = a, i
		}
	}
	if err := inv.Err(); err != nil {
		return nil, err
	}

	// A pool the request gives no bill takes the config's for the month.
	fromConfig := map[string]bool{}
	var configWarning string
	if model == accounting.ModelSplit {
		if m, ok := calendarMonth(period, loc); ok {
			for _, pl := range s.opts.Pricing.Pools {
				if b, ok := s.opts.Pricing.Bill(pl.Name, m); ok && !hasKey(bills, pl.Name) {
					bills[pl.Name], fromConfig[pl.Name] = b, true
				}
			}
		} else if hasConfigBills(s.opts.Pricing) {
			configWarning = "the config's pool bills are bills of calendar months and this period is not one: pools without a bill in the request are billed at their price"
		}
	}

	tallies := make([]*accounting.Tally, s.parts())
	for i := range tallies {
		tallies[i] = accounting.NewTally(period)
	}
	err := s.scanRuns(ctx, period, func(part int, run *accounting.Run) { tallies[part].AddRun(run) })
	tally := tallies[0]
	for _, t := range tallies[1:] {
		tally.Merge(t)
	}
	if err != nil {
		return nil, err
	}
	var rep accounting.Report
	if model == accounting.ModelSplit {
		rep, err = accounting.Split(tally, s.opts.Pricing, bills, policy)
		var be *accounting.BillError
		switch {
		case errors.As(err, &be) && fromConfig[be.Pool]:
			return nil, fmt.Errorf("the config's bill of pool %s: %w", be.Pool, err)
		case errors.As(err, &be):
			return nil, &job.FieldError{Field: fmt.Sprintf("bills[%d]", billIndex[be.Pool]), Problem: be.Error()}
		case err != nil:
			return nil, err
		}
		if configWarning != "" {
			rep.Warnings = append(rep.Warnings, configWarning)
		}
	} else {
		rep = accounting.Chargeback(tally, s.opts.Pricing)
	}
	out := reportProto(rep, req.Month, loc, fromConfig)
	if !id.Operator() {
		limitToTeams(out, id)
	}
	return out, nil
}

// limitToTeams keeps a team admin's view of a cost report to the teams they
// administer: other teams' rows, the total and the pools' figures go.
func limitToTeams(r *gpuqv1.CostReportResponse, id *auth.Identity) {
	r.Teams = slices.DeleteFunc(r.Teams, func(t *gpuqv1.TeamCost) bool { return !id.Admin(t.Team) })
	// Warnings may name other teams and their usage.
	r.Total, r.Pools, r.Warnings = nil, nil, nil
	r.Warnings = append(r.Warnings, fmt.Sprintf("limited to the teams %s administers: %s", id.Name, strings.Join(id.AdminOf, ", ")))
}

// calendarMonth returns the month that period is in loc, if it is one.
func calendarMonth(period accounting.Range, loc *time.Location) (accounting.Month, bool) {
	if loc == nil || period.Start.IsZero() {
		return accounting.Month{}, false
	}
	m := accounting.MonthOf(period.Start, loc)
	r := m.Range(loc)
	return m, r.Start.Equal(period.Start) && r.End.Equal(period.End)
}

func hasConfigBills(p accounting.Pricing) bool {
	for _, pl := range p.Pools {
		if pl.MonthlyBill > 0 || len(pl.Bills) > 0 {
			return true
		}
	}
	return false
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// loadZone loads an IANA zone; "" is UTC.
func loadZone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return loc, nil
}

var (
	modelProto = map[accounting.Model]gpuqv1.CostModel{
		accounting.ModelChargeback: gpuqv1.CostModel_COST_MODEL_CHARGEBACK,
		accounting.ModelSplit:      gpuqv1.CostModel_COST_MODEL_SPLIT,
	}
	policyProto = map[accounting.IdlePolicy]gpuqv1.IdlePolicy{
		accounting.IdleProportional: gpuqv1.IdlePolicy_IDLE_POLICY_PROPORTIONAL,
		accounting.IdleShares:       gpuqv1.IdlePolicy_IDLE_POLICY_SHARES,
		accounting.IdleEven:         gpuqv1.IdlePolicy_IDLE_POLICY_EVEN,
		accounting.IdlePlatform:     gpuqv1.IdlePolicy_IDLE_POLICY_PLATFORM,
	}
	alertProto = map[accounting.Alert]gpuqv1.BudgetAlert{
		accounting.AlertNone:     gpuqv1.BudgetAlert_BUDGET_ALERT_UNSPECIFIED,
		accounting.AlertOK:       gpuqv1.BudgetAlert_BUDGET_ALERT_OK,
		accounting.AlertWarning:  gpuqv1.BudgetAlert_BUDGET_ALERT_WARNING,
		accounting.AlertExceeded: gpuqv1.BudgetAlert_BUDGET_ALERT_EXCEEDED,
	}
)

func reportProto(rep accounting.Report, month string, loc *time.Location, fromConfig map[string]bool) *gpuqv1.CostReportResponse {
	out := &gpuqv1.CostReportResponse{
		Start: timestamppb.New(rep.Period.Start), End: timestamppb.New(rep.Period.End),
		Month: month, TimeZone: loc.String(), Model: modelProto[rep.Model], IdlePolicy: policyProto[rep.Policy],
		Total: teamCostProto(rep.Total), Rounding: rep.Rounding, Warnings: rep.Warnings,
	}
	for _, t := range rep.Teams {
		out.Teams = append(out.Teams, teamCostProto(t))
	}
	for _, p := range rep.Pools {
		src := gpuqv1.BillSource_BILL_SOURCE_PRICE
		switch {
		case p.FromBill && fromConfig[p.Pool]:
			src = gpuqv1.BillSource_BILL_SOURCE_CONFIG
		case p.FromBill:
			src = gpuqv1.BillSource_BILL_SOURCE_REQUEST
		}
		out.Pools = append(out.Pools, &gpuqv1.PoolCost{
			Pool: p.Pool, GpuType: p.GPUType, GpuHours: p.Time.Hours(), Bill: p.Bill.String(), BillSource: src,
			UsageCost: p.Usage.String(), IdleCost: p.Idle.String(),
		})
	}
	return out
}

func teamCostProto(t accounting.TeamCost) *gpuqv1.TeamCost {
	out := &gpuqv1.TeamCost{
		Team: t.Team, TotalGpuHours: t.Time.Hours(), UsageCost: t.Usage.String(), IdleCost: t.Idle.String(),
		Cost: t.Cost.String(), ShareBp: uint32(t.ShareBP), Platform: t.Platform,
	}
	for _, tt := range t.ByType {
		out.GpuHours = append(out.GpuHours, &gpuqv1.GPUHours{GpuType: tt.GPUType, GpuHours: tt.Time.Hours()})
	}
	return out
}

// Budgets reports the teams' months against their budgets.
func (s *AccountingService) Budgets(ctx context.Context, req *gpuqv1.BudgetsRequest) (*gpuqv1.BudgetsResponse, error) {
	at := s.opts.Now()
	if req.At != nil {
		if err := req.At.CheckValid(); err != nil {
			return nil, &job.FieldError{Field: "at", Problem: err.Error()}
		}
		at = req.At.AsTime()
	}
	teams, err := budgetTeams(auth.FromContext(ctx), req.Teams)
	if err != nil {
		return nil, err
	}
	pricing := s.opts.Pricing
	if s.opts.Budget != nil {
		pricing = s.opts.Budget.Pricing()
	}
	bts := make([]*accounting.BudgetTally, s.parts())
	for i := range bts {
		var err error
		bts[i], err = accounting.NewBudgetTally(at, pricing, teams)
		if errors.Is(err, accounting.ErrUnknownTeam) {
			return nil, &job.FieldError{Field: "teams", Problem: err.Error()}
		}
		if err != nil {
			return nil, err
		}
	}
	bt := bts[0]
	err = s.scanRuns(ctx, bt.Span(), func(part int, run *accounting.Run) { bts[part].AddRun(run) })
	for _, o := range bts[1:] {
		bt.Merge(o)
	}
	if err != nil {
		return nil, err
	}
	out := &gpuqv1.BudgetsResponse{At: timestamppb.New(at)}
	for _, b := range bt.Budgets() {
		out.Teams = append(out.Teams, s.teamBudgetProto(b))
	}
	return out, nil
}

// budgetTeams is the teams a budget request reports: those it names, each
// checked, or every team for an operator and the administered ones for a
// team admin.
func budgetTeams(id *auth.Identity, named []string) ([]string, error) {
	if err := auth.RequireUser(id); err != nil {
		return nil, err
	}
	for _, t := range named {
		if err := auth.CanReadTeam(id, t); err != nil {
			return nil, err
		}
	}
	if len(named) > 0 || id.Operator() {
		return named, nil
	}
	if len(id.AdminOf) == 0 {
		return nil, fmt.Errorf("%w: %s may not read budgets (team admins read their teams', operators all)", job.ErrPermissionDenied, id)
	}
	return id.AdminOf, nil
}

// teamBudgetProto is one team's budget, with the hard limit and the alerts
// raised in its month.
func (s *AccountingService) teamBudgetProto(b accounting.Budget) *gpuqv1.TeamBudget {
	tb := &gpuqv1.TeamBudget{
		Team: b.Team, TimeZone: b.Location.String(), Month: b.Month.String(),
		MonthStart: timestamppb.New(b.Period.Start), MonthEnd: timestamppb.New(b.Period.End),
		Spent: b.Spent.String(), Forecast: b.Forecast.String(),
		SpentBp: uint64(b.SpentBP), ForecastBp: uint64(b.ForecastBP),
		Alert: alertProto[b.Alert], ForecastAlert: alertProto[b.ForecastAlert],
	}
	if b.Budget > 0 {
		tb.Budget = b.Budget.String()
	}
	if w := s.opts.Budget; w != nil {
		tb.HardLimit = w.HardLimit() && b.Budget > 0
		tb.BudgetSetByOperator = w.SetByOperator(b.Team)
		for _, a := range w.Alerts([]string{b.Team}, tb.Month) {
			tb.AlertsRaised = append(tb.AlertsRaised, a.Percent)
		}
	}
	return tb
}

// ListBudgetAlerts lists the budget alerts raised.
func (s *AccountingService) ListBudgetAlerts(ctx context.Context, req *gpuqv1.ListBudgetAlertsRequest) (*gpuqv1.ListBudgetAlertsResponse, error) {
	teams, err := budgetTeams(auth.FromContext(ctx), req.Teams)
	if err != nil {
		return nil, err
	}
	if req.Month != "" {
		if _, err := accounting.ParseMonth(req.Month); err != nil {
			return nil, &job.FieldError{Field: "month", Problem: err.Error()}
		}
	}
	out := &gpuqv1.ListBudgetAlertsResponse{}
	if s.opts.Budget != nil {
		out.Alerts = s.opts.Budget.Alerts(teams, req.Month)
	}
	return out, nil
}

// ErrNoBudgets is a SetBudget on a server that does not watch budgets.
var ErrNoBudgets = fmt.Errorf("%w: this server does not keep budgets", job.ErrInvalidState)

// SetBudget sets or clears a team's monthly budget.
func (s *AccountingService) SetBudget(_ context.Context, req *gpuqv1.SetBudgetRequest) (*gpuqv1.SetBudgetResponse, error) {
	var amount money.Amount
	if !req.Clear {
		a, err := money.Parse(req.MonthlyBudget)
		if err != nil {
			return nil, &job.FieldError{Field: "monthly_budget", Problem: err.Error()}
		}
		amount = a
	}
	if s.opts.Budget == nil {
		return nil, ErrNoBudgets
	}
	b, released, err := s.opts.Budget.SetBudget(req.Team, amount, req.Clear)
	if err != nil {
		return nil, fmt.Errorf("set budget of team %q: %w", req.Team, err)
	}
	return &gpuqv1.SetBudgetResponse{Budget: s.teamBudgetProto(b), ReleasedJobs: uint32(released)}, nil
}
