import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  color: string;
  values: (number | null)[];
}

/** A small uPlot chart (stacked bars or lines) that follows its container's width. */
export function TimeChart({
  times,
  series,
  height = 200,
  kind = 'bars',
  label,
}: {
  times: number[];
  series: Series[];
  height?: number;
  kind?: 'bars' | 'line' | 'step';
  label: string;
}) {
  const host = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const element = host.current;
    if (!element) return undefined;
    // Stack the series for bars: each drawn value is the running sum.
    const drawn =
      kind === 'bars'
        ? series.map((_, index) =>
            times.map((__, t) => series.slice(index).reduce((sum, s) => sum + (s.values[t] ?? 0), 0)),
          )
        : series.map((s) => s.values);
    const styles = getComputedStyle(document.documentElement);
    const axisColor = styles.getPropertyValue('--text-muted').trim() || '#8b93a7';
    const gridColor = styles.getPropertyValue('--border').trim() || '#2a3142';
    const barPaths = uPlot.paths.bars?.({ size: [0.7, 40], gap: 1 });
    const stepPaths = uPlot.paths.stepped?.({ align: 1 });
    const options: uPlot.Options = {
      width: Math.max(element.clientWidth, 200),
      height,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false }, points: { show: kind !== 'bars' } },
      scales: { x: { time: true } },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor } },
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor }, size: 48 },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: kind === 'bars' ? s.color : `${s.color}22`,
          width: kind === 'bars' ? 0 : 2,
          paths: kind === 'bars' ? barPaths : kind === 'step' ? stepPaths : undefined,
          points: { show: kind !== 'bars' && times.length < 40 },
        })),
      ],
    };
    const plot = new uPlot(options, [times, ...drawn] as uPlot.AlignedData, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(element.clientWidth, 200), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [times, series, height, kind]);

  return <div className="chart" ref={host} role="img" aria-label={label} />;
}
