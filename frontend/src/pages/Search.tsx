import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { api } from '../api/client';
import type { AuditEvent, SearchResponse } from '../api/types';
import { useSession } from '../auth/session';
import { EventDrawer } from '../components/EventDrawer';
import { Card, Empty, ErrorNotice, Notice, OutcomeBadge, PageHeader, SeverityBadge, Spinner, Time } from '../components/ui';
import { formatNumber } from '../lib/format';
import { chipText, chipsOf, questionFrom, type Chip } from '../lib/question';

const EXAMPLES = [
  'denied attempts to assume an IAM role',
  'who deleted repositories this week',
  'failed logins from 203.0.113.0/24 since Monday',
];

const MATCH_LABELS: Record<string, string> = {
  fulltext: 'words',
  vector: 'meaning',
  filter: 'filters',
};

export default function Search() {
  const { can } = useSession();
  const [question, setQuestion] = useState('');
  const [asked, setAsked] = useState('');
  const [open, setOpen] = useState<{ id: string; preview?: AuditEvent } | null>(null);
  const search = useMutation({
    mutationFn: (query: string) => api<SearchResponse>('/api/v1/search', { method: 'POST', body: { query, limit: 25 } }),
  });

  function ask(query: string) {
    const trimmed = query.trim();
    if (!trimmed) return;
    setQuestion(trimmed);
    setAsked(trimmed);
    search.mutate(trimmed);
  }

  function submit(event: FormEvent) {
    event.preventDefault();
    ask(question);
  }

  function removeChip(chip: Chip) {
    if (!search.data) return;
    const rest = chipsOf(search.data.interpretation).filter((other) => other.key !== chip.key);
    const next = questionFrom(rest);
    if (next) ask(next);
  }

  if (!can('search')) {
    return (
      <div className="page">
        <PageHeader title="Search" />
        <Notice tone="warning" title="Not available for your role">
          Searching the log is for analysts and admins.
        </Notice>
      </div>
    );
  }

  const data = search.data;
  const chips = data ? chipsOf(data.interpretation) : [];
  const byId = new Map(data?.results.map((result) => [result.event.id, result.event]) ?? []);

  return (
    <div className="page">
      <PageHeader title="Search" description="Ask the log a question in plain language. Answers cite the events they rest on." />
      <form className="search-form" onSubmit={submit} role="search">
        <label htmlFor="question" className="search-label">
          Ask a question
        </label>
        <div className="search-row">
          <input
            id="question"
            type="search"
            value={question}
            onChange={(e) => setQuestion(e.target.value)}
            placeholder="e.g. denied attempts to assume an IAM role since Monday"
            maxLength={1000}
            autoComplete="off"
          />
          <button type="submit" className="button primary" disabled={search.isPending || !question.trim()}>
            {search.isPending ? 'Searching…' : 'Search'}
          </button>
        </div>
        {!data && !search.isPending ? (
          <div className="examples">
            <span className="muted">Try:</span>
            {EXAMPLES.map((example) => (
              <button key={example} type="button" className="chip" onClick={() => ask(example)}>
                {example}
              </button>
            ))}
          </div>
        ) : null}
      </form>

      {search.isError ? <ErrorNotice error={search.error} what="Search" /> : null}
      {search.isPending ? <Spinner label="Searching" /> : null}

      {data && !search.isPending ? (
        <>
          <div className="interpretation" aria-label="How the question was understood">
            <span className="muted">Understood as</span>
            {chips.length === 0 ? <span className="muted">no filters</span> : null}
            {chips.map((chip) => (
              <span key={chip.key} className="chip removable">
                <span className="chip-text">{chipText(chip)}</span>
                {chips.length > 1 ? (
                  <button type="button" className="chip-remove" onClick={() => removeChip(chip)} aria-label={`Remove ${chipText(chip)}`}>
                    ×
                  </button>
                ) : null}
              </span>
            ))}
            <span className="badge neutral">{data.mode}</span>
          </div>

          {data.index && !data.index.complete ? (
            <Notice tone="pending" title="Indexing is still catching up">
              These answers come from the {formatNumber(Math.min(data.index.indexed, data.index.embedded ?? data.index.indexed))} of{' '}
              {formatNumber(data.index.events)} events indexed so far; newer events may be missing.
            </Notice>
          ) : null}

          <Card title="Answer" className="answer">
            <p className="answer-text">{data.answer.text}</p>
            {data.answer.citations.length ? (
              <>
                <h3 className="subhead">Cited events</h3>
                <ol className="citations">
                  {data.answer.citations.map((citation, index) => {
                    const event = byId.get(citation.id);
                    return (
                      <li key={citation.id}>
                        <button type="button" className="link-button" onClick={() => setOpen({ id: citation.id, preview: event })}>
                          [{index + 1}] {event ? event.action : citation.id}
                        </button>
                        <span className="muted"> seq {citation.seq}</span>
                        {citation.proof ? (
                          <span className="badge neutral" title={`Inclusion proof in the tree of ${citation.proof.tree_size}`}>
                            proof in tree {citation.proof.tree_size}
                          </span>
                        ) : (
                          <span className="badge status-pending">awaiting checkpoint</span>
                        )}
                      </li>
                    );
                  })}
                </ol>
              </>
            ) : null}
            {data.answer.generated_by ? <p className="muted small">Answer: {data.answer.generated_by}</p> : null}
          </Card>

          <Card title={`Results for “${asked}”`}>
            {data.results.length === 0 ? (
              <Empty>No events match. Remove a filter above or ask differently.</Empty>
            ) : (
              <ol className="results">
                {data.results.map((result) => (
                  <li key={result.event.id} className="result">
                    <div className="result-main">
                      <button type="button" className="link-button mono" onClick={() => setOpen({ id: result.event.id, preview: result.event })}>
                        {result.event.action}
                      </button>
                      <span className="truncate mono muted" title={result.event.actor.id}>
                        {result.event.actor.name ?? result.event.actor.id}
                      </span>
                    </div>
                    <div className="result-meta">
                      <Time iso={result.event.occurred_at} />
                      <OutcomeBadge outcome={result.event.outcome} />
                      {result.event.severity !== 'info' ? <SeverityBadge severity={result.event.severity} /> : null}
                      <span className="matched">
                        matched by{' '}
                        {result.matched.map((m) => (
                          <span key={m} className="badge neutral">
                            {MATCH_LABELS[m] ?? m}
                          </span>
                        ))}
                      </span>
                      <span className="num muted" title="Relevance score (at most 1.1)">
                        {result.score.toFixed(2)}
                      </span>
                    </div>
                  </li>
                ))}
              </ol>
            )}
          </Card>
        </>
      ) : null}
      <EventDrawer eventId={open?.id ?? null} preview={open?.preview ?? null} onClose={() => setOpen(null)} />
    </div>
  );
}
