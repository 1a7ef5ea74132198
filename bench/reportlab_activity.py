#!/usr/bin/env python3
"""The baseline of `veritrail-bench reports`: the activity report drawn by ReportLab from the same
rows, numbers and charts as Veritrail's (a JSON file the benchmark writes).

Usage: reportlab_activity.py INPUT.json OUTPUT.pdf FONT.ttf
Prints one JSON line: {"seconds", "peak_rss_kib", "bytes", "version"}; the time covers the
rendering only (the JSON is read before the clock starts).
"""
import json
import sys
import time

import reportlab
from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.lineplots import LinePlot
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import LongTable, PageBreak, Paragraph, SimpleDocTemplate, Spacer, TableStyle

GREEN, ORANGE, RED, ACCENT = colors.Color(0.2, 0.6, 0.36), colors.Color(0.9, 0.55, 0.1), colors.Color(0.8, 0.18, 0.2), colors.Color(0.13, 0.33, 0.62)


def peak_rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def stacked(data, width, height):
    drawing = Drawing(width, height)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 30, 25, width - 40, height - 50
    chart.data = [[day[i] for day in data["per_day"]] for i in range(3)]
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.categoryNames = [d[5:] for d in data["days"]]
    chart.categoryAxis.labels.fontName, chart.categoryAxis.labels.fontSize = "DejaVu", 5
    chart.valueAxis.labels.fontName, chart.valueAxis.labels.fontSize = "DejaVu", 6
    for i, colour in enumerate([GREEN, ORANGE, RED]):
        chart.bars[i].fillColor = colour
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    drawing.add(String(0, height - 12, "Events per day by outcome", fontName="DejaVu", fontSize=9.5))
    return drawing


def bars(title, items, width, height):
    drawing = Drawing(width, height)
    chart = HorizontalBarChart()
    chart.x, chart.y, chart.width, chart.height = width * 0.42, 10, width * 0.5, height - 30
    chart.data = [[count for _, count in reversed(items)] or [0]]
    chart.categoryAxis.categoryNames = [name for name, _ in reversed(items)] or [""]
    chart.categoryAxis.labels.fontName, chart.categoryAxis.labels.fontSize = "DejaVu", 7
    chart.valueAxis.labels.fontName, chart.valueAxis.labels.fontSize = "DejaVu", 6
    chart.bars[0].fillColor = ACCENT
    drawing.add(chart)
    drawing.add(String(0, height - 12, title, fontName="DejaVu", fontSize=9.5))
    return drawing


def lines(data, width, height):
    drawing = Drawing(width, height)
    plot = LinePlot()
    plot.x, plot.y, plot.width, plot.height = 30, 25, width - 40, height - 50
    plot.data = [[(i, day[k]) for i, day in enumerate(data["per_day"])] for k in (1, 2)]
    plot.lines[0].strokeColor, plot.lines[1].strokeColor = ORANGE, RED
    plot.xValueAxis.labels.fontName = plot.yValueAxis.labels.fontName = "DejaVu"
    plot.xValueAxis.labels.fontSize = plot.yValueAxis.labels.fontSize = 6
    drawing.add(plot)
    drawing.add(String(0, height - 12, "Failed and denied events per day", fontName="DejaVu", fontSize=9.5))
    return drawing


def main():
    source, output, font = sys.argv[1:4]
    with open(source, encoding="utf-8") as f:
        data = json.load(f)
    started = time.perf_counter()
    pdfmetrics.registerFont(TTFont("DejaVu", font))
    body = ParagraphStyle("body", fontName="DejaVu", fontSize=10, leading=14)
    small = ParagraphStyle("small", fontName="DejaVu", fontSize=8, leading=11)
    title = ParagraphStyle("title", fontName="DejaVu", fontSize=26, leading=32, textColor=ACCENT)
    heading = ParagraphStyle("heading", fontName="DejaVu", fontSize=14, leading=20, textColor=ACCENT, spaceBefore=10)
    header = f"{data['title']} · tenant {data['tenant']} · {data['period']}"

    def decorate(canvas, doc):
        canvas.saveState()
        canvas.setFont("DejaVu", 8)
        canvas.drawString(48, A4[1] - 34, header)
        canvas.drawRightString(A4[0] - 48, 28, f"Page {doc.page}")
        canvas.drawString(48, 28, f"Checkpoint root {data['root_hash']}")
        canvas.restoreState()

    width = A4[0] - 96
    story = [
        Paragraph(data["title"], title),
        Paragraph(f"Tenant: {data['tenant']}", body),
        Paragraph(f"Period: {data['period']}", body),
        Paragraph(f"Root hash: {data['root_hash']}", small),
        Paragraph("Summary", heading),
        Paragraph(data["summary"], body),
        PageBreak(),
        stacked(data, width, 190),
        Spacer(1, 10),
        LongTable(
            [[bars("Top actors", data["top_actors"], width / 2 - 10, 180), bars("Top actions", data["top_actions"], width / 2 - 10, 180)]],
            colWidths=[width / 2, width / 2],
        ),
        lines(data, width, 150),
        Paragraph("Anomalies", heading),
    ]
    for anomaly in data["anomalies"]:
        story.append(Paragraph(anomaly["title"], body))
        story.append(Paragraph(anomaly["narrative"], small))
    story.append(Paragraph("Events", heading))
    rows = [["seq", "time (UTC)", "actor", "action", "resource", "outcome"]] + [[str(r[0])] + r[1:] for r in data["rows"]]
    table = LongTable(rows, colWidths=[44, 92, 96, 112, 104, 51], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "DejaVu", 7),
        ("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.93, 0.94, 0.96)),
        ("TOPPADDING", (0, 0), (-1, -1), 1),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
    ]))
    story.append(table)
    doc = SimpleDocTemplate(output, pagesize=A4, leftMargin=48, rightMargin=48, topMargin=64, bottomMargin=52)
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    seconds = time.perf_counter() - started
    import os
    print(json.dumps({"seconds": seconds, "peak_rss_kib": peak_rss_kib(), "bytes": os.path.getsize(output), "version": reportlab.Version}))


if __name__ == "__main__":
    main()
