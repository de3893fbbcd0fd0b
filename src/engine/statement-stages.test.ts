import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StageClock } from './pipeline.ts';
import { StatementStages, type StageTimes } from './statement-stages.ts';

/** A busy wait of at least `ms`, so segments have a length. */
function spend(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** A client read deciding one message, with `analyse` nested in `decide` as the gate does it. */
function decideMessage(c: StatementStages, analyse: boolean): void {
  c.top('relay');
  c.enter('decide');
  spend(0.2);
  if (analyse) {
    c.enter('analyse');
    spend(0.5);
    c.leave();
  }
  spend(0.2);
  c.leave();
  c.end();
}

const names = (stages: StageTimes[]) => stages.map((s) => s.stage);

describe('StatementStages', () => {
  const cases: { name: string; messages: boolean[]; upstreamReadBefore?: number; stages: string[] }[] = [
    { name: 'a simple Query: analysed within its decision', messages: [true], stages: ['decide', 'analyse'] },
    { name: 'Parse, Bind, Execute in one round trip: one span per stage, first to last', messages: [true, false, false], stages: ['decide', 'analyse'] },
    { name: 'an Execute of a statement prepared in an earlier round trip: no analyse', messages: [true, false, false], upstreamReadBefore: 1, stages: ['decide'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const clock = new StatementStages(null);
      c.messages.forEach((analyse, i) => {
        if (i === c.upstreamReadBefore) {
          clock.top('relay', 'upstream');
          clock.end();
        }
        decideMessage(clock, analyse);
      });
      const now = performance.now();
      const { start, stages } = clock.take(now);
      assert.deepEqual(names(stages), c.stages);
      assert.equal(start, Math.min(...stages.map((s) => s.start)));
      for (const s of stages) {
        assert.ok(s.start <= s.end && s.end <= now);
        // Busy time is the time spent, never more than the span.
        assert.ok(s.busyMs! > 0 && s.busyMs! <= s.end - s.start + 1e-9, `${s.stage} busy ${s.busyMs} in ${s.end - s.start}`);
      }
      const decide = stages.find((s) => s.stage === 'decide')!;
      const analyse = stages.find((s) => s.stage === 'analyse');
      if (analyse) {
        assert.ok(decide.start <= analyse.start && analyse.end <= decide.end);
        assert.ok(analyse.busyMs! >= 0.5 && decide.busyMs! < decide.end - decide.start, 'decide excludes the analysis');
      }
      // The next statement starts afresh.
      assert.deepEqual(clock.take(performance.now()).stages, []);
    });
  }

  it('a review wait splits the stages: decided before it and again after it', () => {
    const clock = new StatementStages(null);
    clock.top('relay');
    clock.enter('decide');
    clock.enter('analyse');
    clock.leave();
    // The gate holds the statement while deciding it.
    const heldAt = performance.now();
    clock.held(heldAt);
    spend(0.1);
    clock.leave();
    clock.end();
    // A read from the server while it waits keeps what was decided so far.
    clock.top('relay', 'upstream');
    clock.end();
    spend(1);
    clock.enter('decide');
    clock.enter('analyse');
    clock.leave();
    clock.leave();
    const { stages } = clock.take(performance.now());
    assert.deepEqual(names(stages), ['decide', 'analyse', 'review', 'decide', 'analyse']);
    const review = stages[2];
    assert.equal(review.start, heldAt);
    assert.ok(stages[0].end >= heldAt, 'the decision that held it goes on past the hold');
    assert.ok(review.end - review.start >= 1, 'the review lasts until it is decided again');
    assert.ok(review.end <= stages[3].start);
  });

  it('forward and result: from durable to the first read, then to the outcome, with the reads’ time and masking', () => {
    const clock = new StatementStages(null);
    const f = clock.forwarded(performance.now());
    spend(0.2);
    for (let i = 0; i < 3; i++) {
      clock.top('relay', 'upstream');
      spend(0.1);
      clock.enter('mask');
      spend(0.2);
      clock.leave();
      clock.end();
      spend(0.3);
    }
    // A client read is not the statement's result time.
    clock.top('relay');
    spend(0.5);
    clock.end();
    const stages: StageTimes[] = [];
    const done = performance.now();
    clock.completed(f, done, stages);
    assert.deepEqual(names(stages), ['forward', 'result']);
    const [forward, result] = stages;
    assert.ok(forward.end - forward.start >= 0.2);
    assert.equal(forward.end, result.start);
    assert.equal(result.end, done);
    assert.ok(result.busyMs! >= 0.9 && result.busyMs! < result.end - result.start - 0.5, `busy ${result.busyMs}`);
    assert.ok(result.maskMs! >= 0.6 && result.maskMs! <= result.busyMs!);
  });

  it('a statement completed before any read from the server has a forward span and no result', () => {
    const clock = new StatementStages(null);
    const f = clock.forwarded(performance.now());
    const stages: StageTimes[] = [];
    clock.completed(f, performance.now(), stages);
    assert.deepEqual(names(stages), ['forward']);
  });

  it('passes every measure on to the gateway clock', () => {
    const shared = new StageClock();
    const clock = new StatementStages(shared);
    clock.top('relay');
    clock.enter('decide');
    clock.enter('analyse');
    spend(0.3);
    clock.leave();
    clock.leave();
    clock.counted();
    clock.end();
    const { statements, us } = shared.perStatement();
    assert.equal(statements, 1);
    assert.ok(us.analyse >= 300);
  });
});
