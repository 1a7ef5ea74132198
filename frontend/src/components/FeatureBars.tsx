import type { AnomalyFeature } from '../api/types';
import { humanize } from '../lib/format';

function fmt(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
}

/** Observed against expected for the features that pushed the score most (SVG, no inline styles). */
export function FeatureBars({ features, limit = 5 }: { features: AnomalyFeature[]; limit?: number }) {
  const top = [...features].sort((a, b) => b.contribution - a.contribution).slice(0, limit);
  if (top.length === 0) return null;
  const rowHeight = 34;
  const labelWidth = 150;
  const width = 420;
  const barArea = width - labelWidth - 60;
  const height = top.length * rowHeight + 22;
  return (
    <figure className="feature-bars">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="feature-bars-title">
        <title id="feature-bars-title">Observed against expected values of the top features</title>
        {top.map((feature, index) => {
          const y = index * rowHeight + 4;
          // Each feature has its own unit, so each row is scaled to its own larger value.
          const max = Math.max(Math.abs(feature.observed), Math.abs(feature.expected), 1e-9);
          const observed = (Math.abs(feature.observed) / max) * barArea;
          const expected = (Math.abs(feature.expected) / max) * barArea;
          return (
            <g key={feature.name}>
              <text x={0} y={y + 15} className="fb-label">
                {humanize(feature.name).slice(0, 22)}
              </text>
              <rect x={labelWidth} y={y + 2} width={Math.max(observed, 1)} height={11} rx={2} className="fb-observed" />
              <rect x={labelWidth} y={y + 15} width={Math.max(expected, 1)} height={11} rx={2} className="fb-expected" />
              <text x={labelWidth + Math.max(observed, 1) + 6} y={y + 12} className="fb-value">
                {fmt(feature.observed)}
              </text>
              <text x={labelWidth + Math.max(expected, 1) + 6} y={y + 25} className="fb-value muted">
                {fmt(feature.expected)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span className="legend-swatch fb-observed" aria-hidden="true" /> observed
        <span className="legend-swatch fb-expected" aria-hidden="true" /> expected
      </figcaption>
    </figure>
  );
}
